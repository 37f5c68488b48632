package e2e

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/deploy"
	"github.com/celeroot/celeroot/queue"
)

// secretsYAML holds credentials a worker does not need.
const secretsYAML = `secrets:
  provider: vault
  endpoint: https://vault-user:VaultS3cret@vault.example:8200
monitoring:
  alert_channels:
    - webhook: https://hooks.example/WebhookS3cret
`

// TestDeploySecretsPrivate: the release a host gets holds no credential
// the worker does not need, what it needs (its Redis password) is readable
// by the worker's user only, a release an older cl left world-readable is
// tightened by the next deploy, and the worker still connects (to a Redis
// that requires a password) and reports the new release.
func TestDeploySecretsPrivate(t *testing.T) {
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Skip("redis-cli not installed (apt-get install redis-tools)")
	}
	d := newDeployFleet(t, 1, secretsYAML)
	h := d.f.Hosts[0]
	ctx := ctxFor(t, 3*time.Minute)

	// A Redis that needs a password, named in cl.yaml's redis.url.
	const pw = "RedisS3cret"
	host, port, _ := strings.Cut(d.redis, ":")
	if out, err := exec.CommandContext(ctx, "redis-cli", "-h", host, "-p", port, "CONFIG", "SET", "requirepass", pw).CombinedOutput(); err != nil || !strings.Contains(string(out), "OK") {
		t.Fatalf("set requirepass: %v %s", err, out)
	}
	cfg, err := os.ReadFile(d.cfg)
	if err != nil {
		t.Fatal(err)
	}
	url := "redis://:" + pw + "@" + d.redis + "/0"
	d.write("cl.yaml", strings.Replace(string(cfg), "redis://"+d.redis+"/0", url, 1))
	v1 := d.commit("redis password")
	q, err := queue.Open(ctx, url, queue.Namespace{Cluster: "e2e"})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	beat := func() string {
		hb, ok, err := q.Worker(ctx, h.Name)
		if err != nil || !ok {
			return ""
		}
		return hb.SHA
	}

	if rep, _, code, stderr := d.deployJSON(ctx, "--all"); code != 0 || beat() != v1 {
		t.Fatalf("first deploy: exit %d, worker %q\n%s%s", code, beat(), stderr, describe(rep))
	}
	// What an older cl left: everything readable by everyone.
	if _, err := h.Exec(ctx, "chmod", "-R", "go+rX", "/opt/celeroot"); err != nil {
		t.Fatal(err)
	}
	d.write("tasks/checks/hello.sh", "#!/bin/sh\necho hello again\n")
	v2 := d.commit("v2")
	rep, _, code, stderr := d.deployJSON(ctx, "--all")
	if code != 0 || d.current(h) != v2 || beat() != v2 {
		t.Fatalf("second deploy: exit %d, current %s, worker %q\n%s%s", code, d.current(h), beat(), stderr, describe(rep))
	}
	if hr := hostReport(rep, h.Name); hr.Transfer != "delta" || hr.FilesLinked == 0 {
		t.Errorf("second deploy was not a delta: %+v", hr)
	}

	// The release's files as root sees them: no credentials but in
	// .celeroot/credentials.
	rel := "/opt/celeroot/releases/" + v2 + "/"
	for _, p := range []string{"cl.yaml", deploy.WorkerConfigPath, deploy.CredentialsPath} {
		b, err := os.ReadFile(h.Path(rel + p))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{pw, "VaultS3cret", "WebhookS3cret"} {
			if strings.Contains(string(b), s) != (p == deploy.CredentialsPath && s == pw) {
				t.Errorf("%s: holds %s: %v\n%s", p, s, strings.Contains(string(b), s), b)
			}
		}
	}

	// Another local user reads nothing of it (not even through the old
	// release, whose files the new one links), while it can read files
	// that are world-readable (the check itself works).
	asNobody := func(argv ...string) ([]byte, error) {
		return h.Exec(ctx, append([]string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"}, argv...)...)
	}
	if out, err := asNobody("cat", "/etc/passwd"); err != nil {
		t.Fatalf("nobody cannot read /etc/passwd: %v %s", err, out)
	}
	for _, p := range []string{
		rel + "cl.yaml", rel + deploy.CredentialsPath, rel + deploy.WorkerConfigPath,
		"/opt/celeroot/current/cl.yaml", "/opt/celeroot/releases/" + v1 + "/cl.yaml",
	} {
		if out, err := asNobody("cat", p); err == nil || !strings.Contains(string(out), "Permission denied") {
			t.Errorf("another user reads %s: %v\n%s", p, err, out)
		}
	}
	for p, want := range map[string]string{
		"/opt/celeroot/releases":         "700",
		rel + deploy.CredentialsPath:     "600",
		rel + "cl.yaml":                  "600",
		rel + "tasks/checks/hello.sh":    "700",
		rel + "tasks/checks/payload.txt": "600", // linked from v1, made 0644 there
		"/var/lib/celeroot":              "700",
	} {
		out, err := h.Exec(ctx, "stat", "-c", "%a %U", p)
		if err != nil {
			t.Fatal(err)
		}
		if mode, owner, _ := strings.Cut(strings.TrimSpace(string(out)), " "); mode != want || owner != d.f.User {
			t.Errorf("%s: mode %s owner %s, want %s %s", p, mode, owner, want, d.f.User)
		}
	}
}
