package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// secretYAML is a valid cl.yaml full of credentials a worker does not need
// (and a Redis password it does, in its credentials file).
const secretYAML = `# the fleet
cluster:
  name: c1
redis:
  url: redis://:S3cret@127.0.0.1:6390/0  # the password
  task_ttl: 1h
ssh:
  default_user: deploy
hosts:
  web1:
    role: web
    address: 10.0.0.1
workers:
  web:
    queue: web
    tasks: []
secrets:
  provider: vault
  endpoint: https://vault-user:VaultPw@vault.example:8200
  token_file: /etc/vault-token
monitoring:
  alert_channels:
    - slack: https://hooks.slack.com/services/T000/B000/SlackTok

deployment:
  target_directory: /opt/celeroot
`

func TestWorkerCopy(t *testing.T) {
	out, err := WorkerCopy([]byte(secretYAML))
	if err != nil {
		t.Fatal(err)
	}
	got := string(out)
	for _, secret := range []string{"S3cret", "VaultPw", "SlackTok", "vault-user", "monitoring:", "ssh:"} {
		if strings.Contains(got, secret) {
			t.Errorf("worker copy holds %q:\n%s", secret, got)
		}
	}
	for _, kept := range []string{"# the fleet\n", "  url: redis://127.0.0.1:6390/0  # the password\n", "  task_ttl: 1h\n", "hosts:\n  web1:\n", "secrets:\n  provider: vault\n  endpoint: https://vault.example:8200\n  token_file: /etc/vault-token\n", "deployment:\n  target_directory: /opt/celeroot\n"} {
		if !strings.Contains(got, kept) {
			t.Errorf("worker copy lost %q:\n%s", kept, got)
		}
	}
	// The copy is still a valid configuration, and with the credentials
	// applied the worker gets the whole URL back.
	dir := t.TempDir()
	p := filepath.Join(dir, "cl.yaml")
	if err := os.WriteFile(p, out, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := LoadValid(Options{Path: p})
	if err != nil {
		t.Fatalf("worker copy does not load: %v\n%s", err, got)
	}
	url, err := WorkerRedisURL([]byte(secretYAML), nil)
	if err != nil || url != "redis://:S3cret@127.0.0.1:6390/0" {
		t.Fatalf("WorkerRedisURL = %q, %v", url, err)
	}
	creds, err := ParseWorkerCredentials("credentials", WorkerCredentials{RedisURL: url}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if err := creds.Apply(cfg); err != nil || cfg.Redis.URL != url {
		t.Fatalf("Apply: %v, url %q", err, cfg.Redis.URL)
	}
}

func TestWorkerCopyRefuses(t *testing.T) {
	for name, in := range map[string]string{
		"flow top level":           "{cluster: {name: c}, secrets: {provider: vault}}\n",
		"alias into dropped":       "ssh: &s\n  default_user: x\ncluster:\n  name: *s\n",
		"multi-line redis url":     "redis:\n  url: |\n    redis://:pw@h:1/0\n",
		"not a mapping at the top": "- a\n- b\n",
	} {
		if out, err := WorkerCopy([]byte(in)); err == nil {
			t.Errorf("%s: no error, got\n%s", name, out)
		}
	}
	// Nothing to remove: the bytes stay as they are.
	in := "cluster:\n  name: c   # keep\nredis:\n  url: redis://h:1/0\n"
	if out, err := WorkerCopy([]byte(in)); err != nil || string(out) != in {
		t.Errorf("clean file changed: %q, %v", out, err)
	}
}

func TestStripURLCredentials(t *testing.T) {
	for in, want := range map[string]string{
		"redis://h:6379/0":                 "redis://h:6379/0",
		"redis://:pw@h:6379/0":             "redis://h:6379/0",
		"redis://user:pw@h:6379/0":         "redis://user@h:6379/0",
		"redis://:p%zz w#/@x@h:6379/0":     "redis://h:6379/0", // url.Parse rejects this password
		"rediss://u:p@h/1?dial_timeout=2s": "rediss://u@h/1?dial_timeout=2s",
		"redis-sentinel://:p@a:1,b:2/0?master=m&sentinel_password=sp&sentinel_username=su": "redis-sentinel://a:1,b:2/0?master=m&sentinel_username=su",
		"redis-cluster://a:1?sentinel_password=x":                                          "redis-cluster://a:1",
		"not a url": "not a url",
	} {
		if got := StripURLCredentials(in); got != want {
			t.Errorf("StripURLCredentials(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWorkerCredentials(t *testing.T) {
	c := WorkerCredentials{Env: "prod", RedisURL: "redis://:a'b\"c: #d@h:1/0"}
	got, err := ParseWorkerCredentials("f", c.Encode())
	if err != nil || got != c {
		t.Fatalf("round trip: %+v, %v\n%s", got, err, c.Encode())
	}
	overlay := []byte("redis:\n  url: redis://:prodpw@p:1/0\n")
	if u, err := WorkerRedisURL([]byte(secretYAML), overlay); err != nil || u != "redis://:prodpw@p:1/0" {
		t.Errorf("overlay url %q, %v", u, err)
	}
	if u, err := WorkerRedisURL([]byte("cluster:\n  name: c\n"), []byte("cluster:\n  name: d\n")); err != nil || u != "" {
		t.Errorf("no url: %q, %v", u, err)
	}
	cfg := &Config{Source: Source{Env: "staging"}}
	cfg.Redis.URL = "redis://h:1/0"
	if err := c.Apply(cfg); err == nil || !strings.Contains(err.Error(), `--env "prod"`) || cfg.Redis.URL != "redis://h:1/0" {
		t.Errorf("Apply for another env: %v, url %q", err, cfg.Redis.URL)
	}
	if _, err := ParseWorkerCredentials("f", []byte("redis_url: x\nunknown: 1\n")); err == nil {
		t.Error("unknown key accepted")
	}
	empty, err := ParseWorkerCredentials("f", WorkerCredentials{}.Encode())
	if err != nil || empty.RedisURL != "" {
		t.Errorf("no url: %+v, %v", empty, err)
	}
	cfg.Source.Env = ""
	if err := empty.Apply(cfg); err != nil || cfg.Redis.URL != "redis://h:1/0" {
		t.Errorf("empty credentials changed the url: %v, %q", err, cfg.Redis.URL)
	}
}
