package secrets

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/config"
)

// loadWith loads a small valid configuration with extra cl.yaml text.
func loadWith(t *testing.T, extra string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	base := "cluster: {name: c}\nredis: {url: \"redis://127.0.0.1:6379/0\"}\nworkers:\n  web: {queue: web, tasks: [t]}\n" +
		"hosts:\n  h1: {address: 10.0.0.1, role: web}\n"
	if err := os.MkdirAll(filepath.Join(dir, "tasks"), 0o755); err != nil {
		t.Fatal(err)
	}
	mod := "tasks:\n  go:\n    command: [\"true\"]\n    params:\n      token: {type: string}\n    env: {API: \"${secret:api#token}\"}\n"
	if err := os.WriteFile(filepath.Join(dir, "tasks", "t.yaml"), []byte(mod), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cl.yaml"), []byte(base+extra), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, diags, err := config.Load(config.Options{Path: filepath.Join(dir, "cl.yaml")})
	if err != nil || diags.HasErrors() {
		t.Fatalf("load: %v %v", err, diags)
	}
	return cfg
}

func diagText(ds config.Diagnostics) string {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString(d.String() + "\n")
	}
	return b.String()
}

// TestCheckConfig: malformed references, references without a provider,
// and (only when fetching) secrets that do not exist are errors naming the
// key and position; no value ever appears in a diagnostic.
func TestCheckConfig(t *testing.T) {
	ctx := context.Background()
	const monitoring = "monitoring:\n  slack_webhook_url: \"${secret:slack#url}\"\n  alert_channels:\n    - webhook: \"${secret:hook}\"\n    - slack: \"${secret:}\"\n" +
		"  smtp: {address: \"127.0.0.1:25\", username: u, password: \"${secret:smtp#password\"}\n"
	const sched = "schedules:\n  s1: {task: t.go, cron: \"* * * * *\", targets: [{role: web}], params: {token: \"${secret:api#tok en}\"}}\n"

	noProvider := diagText(CheckConfig(ctx, loadWith(t, monitoring+sched), true))
	for _, want := range []string{
		"cl.yaml:8:", "monitoring.alert_channels[1].slack: bad secret reference",
		"monitoring.smtp.password: bad secret reference",
		"schedules.s1.params.token: bad secret reference",
		"monitoring.slack_webhook_url: references secret slack#url but cl.yaml has no secrets.provider",
		"tasks.t.go.env.API: references secret api#token but cl.yaml has no secrets.provider",
	} {
		if !strings.Contains(noProvider, want) {
			t.Errorf("diagnostics lack %q:\n%s", want, noProvider)
		}
	}

	const planted = "https://hooks.example/planted-Hq8"
	t.Setenv("CK_SECRET_hook", planted)
	t.Setenv("CK_SECRET_api", `{"token":"planted-Tk2"}`)
	withProvider := "secrets: {provider: env, path: CK_SECRET_}\nmonitoring:\n  slack_webhook_url: \"${secret:slack#url}\"\n  alert_channels:\n    - webhook: \"${secret:hook}\"\n"
	cfg := loadWith(t, withProvider)
	if ds := CheckConfig(ctx, cfg, false); len(ds) != 0 {
		t.Errorf("without fetching, well-formed references with a provider: %s", diagText(ds))
	}
	got := diagText(CheckConfig(ctx, cfg, true))
	if !strings.Contains(got, "monitoring.slack_webhook_url: secret slack#url") || strings.Count(got, "error") != 1 {
		t.Errorf("fetching: want exactly the missing slack#url:\n%s", got)
	}
	if strings.Contains(got, "planted") {
		t.Errorf("a value in the diagnostics:\n%s", got)
	}
}

// TestExpanderCachesThenRereads: a resolved value is reused within the TTL
// and fetched again after it (a rotated secret is picked up).
func TestExpanderCachesThenRereads(t *testing.T) {
	t.Setenv("XP_SECRET_hook", "https://a.example/one")
	x := NewExpander(&config.Config{Secrets: config.Secrets{Provider: "env", Path: "XP_SECRET_"}}, time.Minute)
	now := time.Unix(1000, 0)
	x.now = func() time.Time { return now }
	ctx := context.Background()
	if v, err := x.Expand(ctx, "${secret:hook}"); v != "https://a.example/one" || err != nil {
		t.Fatalf("first: %q %v", v, err)
	}
	t.Setenv("XP_SECRET_hook", "https://a.example/two")
	if v, _ := x.Expand(ctx, "${secret:hook}"); v != "https://a.example/one" {
		t.Errorf("within the TTL: %q, want the cached value", v)
	}
	now = now.Add(time.Minute)
	if v, _ := x.Expand(ctx, "${secret:hook}"); v != "https://a.example/two" {
		t.Errorf("after the TTL: %q, want the rotated value", v)
	}
	if v, err := x.Expand(ctx, "https://plain.example/x"); v != "https://plain.example/x" || err != nil {
		t.Errorf("no reference: %q %v", v, err)
	}
	if _, err := x.Expand(ctx, "${secret:nope}"); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("missing secret: %v", err)
	}
}
