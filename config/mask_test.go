package config

import (
	"encoding/json"
	"strings"
	"testing"
)

// secret is the password every masking case hides; no fragment of it may
// appear in what is printed.
const secret = "S3cret"

func TestMaskURL(t *testing.T) {
	cases := []struct{ in, want string }{
		{"redis://:S3cret@h:6379/0", "redis://:****@h:6379/0"},
		{"redis://u:S3cret@h:6379/0", "redis://u:****@h:6379/0"},
		{"rediss://u:S3cret@h:6380/1?tls_ca=/ca.pem", "rediss://u:****@h:6380/1?tls_ca=/ca.pem"},
		{"redis-sentinel://s1,s2/0?master=m&sentinel_password=S3cret", "redis-sentinel://s1,s2/0?master=m&sentinel_password=****"},
		{"redis-sentinel://u:S3cret@s1/0?sentinel_password=S3cret&master=m", "redis-sentinel://u:****@s1/0?sentinel_password=****&master=m"},
		{"redis-sentinel://s1/0?master=m&SENTINEL_PASSWORD=S3c%zzret", "redis-sentinel://s1/0?master=m&SENTINEL_PASSWORD=****"},
		{"https://vault:8200/v1?token=S3cret", "https://vault:8200/v1?token=****"},
		// Passwords Go's URL parser rejects.
		{"redis://:S3c%zzret@h:6379/0", "redis://:****@h:6379/0"},
		{"redis://:S3c ret@h:6379/0", "redis://:****@h:6379/0"},
		{"redis://:S3c#ret@h:6379/0", "redis://:****@h:6379/0"},
		{"redis://:S3c/ret@h:6379/0", "redis://:****@h:6379/0"},
		{"redis://:S3c?ret@h:6379/0", "redis://:****@h:6379/0"},
		{"redis://u:S3c@ret@h:6379/0", "redis://u:****@h:6379/0"},
		{"u:S3cret@h:6379", "u:****@h:6379"},
		{"redis//:S3cret@h:6379/0", "****@h:6379/0"},
		{"redis:/u:S3cret@h:6379/0", "redis:****@h:6379/0"},
		// Nothing to hide.
		{"redis://h:6379/0", "redis://h:6379/0"},
		{"redis://user@h:6379/0", "redis://user@h:6379/0"},
		{"redis://h:6379/0?client_name=ab", "redis://h:6379/0?client_name=ab"},
		// queue.ParseURL reads up to the last '@' as user info, so this does too.
		{"redis://h:6379/0?client_name=a@b", "redis://h:****@b"},
		{"", ""},
	}
	for _, c := range cases {
		got := MaskURL(c.in)
		if got != c.want {
			t.Errorf("MaskURL(%q) = %q, want %q", c.in, got, c.want)
		}
		if strings.Contains(got, "S3c") || strings.Contains(got, "ret@") {
			t.Errorf("MaskURL(%q) = %q leaks the password", c.in, got)
		}
	}
}

// TestSecretsNotPrinted loads configurations whose URLs carry a password,
// parseable or not, and checks that neither validation messages nor the
// resolved view (YAML and JSON, as config show prints them) quote it.
func TestSecretsNotPrinted(t *testing.T) {
	urls := []string{
		"redis://:S3cret@127.0.0.1:6379/0",
		"redis://:S3c#ret@127.0.0.1:6379/0",
		"redis://:S3c%ret@127.0.0.1:6379/0",
		"redis://:S3c ret@127.0.0.1:6379/0",
		"redis://:S3c/ret@127.0.0.1:6379/0",
		"redis://:S3cret@127.0.0.1:notaport/0",
		"redis://u:S3cret@/0",
		"redis-sentinel://127.0.0.1:26379/0?master=m&sentinel_password=S3cret",
		"redis-sentinel://u:S3c#ret@127.0.0.1/0?master=m&sentinel_password=S3c%zzret",
		"redis//:S3cret@127.0.0.1:6379/0",
		"redis:/:S3cret@127.0.0.1:6379/0",
	}
	for _, u := range urls {
		yml := replace(t, "cluster:\n  name: test\n", "cluster:\n  name: test\nredis:\n  url: '"+u+"'\n"+
			"secrets:\n  provider: vault\n  endpoint: 'https://:"+secret+"@vault:8200/v1?token="+secret+"'\n"+
			"deployment:\n  health_check_url: 'http://u:"+secret+"@localhost:8080/health'\n")
		cfg, diags := load(t, yml, nil)
		for _, d := range diags {
			if strings.Contains(d.String(), "S3c") || strings.Contains(d.String(), "ret@") {
				t.Errorf("url %q: diagnostic leaks the password: %s", u, d)
			}
		}
		view := cfg.Resolved()
		out, err := RenderYAML(view)
		if err != nil {
			t.Fatal(err)
		}
		js, err := json.Marshal(view)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{string(out), string(js)} {
			if strings.Contains(s, "S3c") {
				t.Errorf("url %q: resolved view leaks the password:\n%s", u, s)
			}
		}
	}
}
