package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/e2e/testhost"
	"github.com/celeroot/celeroot/queue/queuetest"
)

// plantedSecret is the value the test plants on the host and then looks
// for everywhere it must not be.
const plantedSecret = "pl4nted-S3cret-e2e-91c7"

const secretTask = `tasks:
  hello:
    description: say hello
    script: checks/hello.sh
  show:
    description: receives a secret, prints it, hashes it
    params:
      token: {type: string, required: true}
      out: {type: string, required: true}
    script: checks/show.sh
`

// show.sh writes the hash of what it received (so the test can check the
// value arrived) and prints the value on stdout and stderr (so the test can
// check the output is masked).
const secretScript = `#!/bin/sh
printf '%s' "$CL_PARAM_TOKEN" | sha256sum | cut -d' ' -f1 > "$CL_PARAM_OUT"
echo "token is $CL_PARAM_TOKEN"
echo "stdin $(cat)"
echo "stderr has $CL_PARAM_TOKEN" >&2
`

// TestSecretNeverLeaks: the agent deploys a fleet whose task takes a
// secret (file provider on the host); cl task run passes the reference;
// the task receives the value (its hash matches), and the planted value is
// in none of: the run's output (cl task run --wait, cl task logs), the
// worker's and the agent's logs, any Redis key of any type, the audit
// trail (which names the secret).
func TestSecretNeverLeaks(t *testing.T) {
	home := "/home/" + testhost.DefaultUser
	d := newDeployFleet(t, 1, "secrets:\n  provider: file\n  path: "+home+"/secrets\n")
	h := d.f.Hosts[0]
	ctx := ctxFor(t, 4*time.Minute)
	// The secret exists on the host only (its own home directory, not
	// this machine's), readable by the worker's user.
	dir := h.Path(home + "/secrets")
	if dir == home+"/secrets" {
		t.Fatalf("%s is not private to the test host", home)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "api"), []byte(`{"token":"`+plantedSecret+`"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := h.Exec(ctx, "chown", "-R", d.f.User, home+"/secrets"); err != nil {
		t.Fatalf("chown: %v %s", err, out)
	}
	cfg, err := os.ReadFile(d.cfg)
	if err != nil {
		t.Fatal(err)
	}
	d.write("cl.yaml", strings.Replace(string(cfg), "    concurrency: 2\n", "    concurrency: 2\n    tasks: [checks]\n", 1))
	d.write("tasks/checks.yaml", secretTask)
	d.write("tasks/checks/show.sh", secretScript)
	a := &agentFleet{deployFleet: d, git: startGitDaemon(t), secret: "webhook-secret-e2e"}
	a.bare = filepath.Join(a.git.base, "fleet.git")
	sha := d.commit("a task that takes a secret")
	d.git("clone", "-q", "--bare", d.dir, a.bare)
	d.git("remote", "add", "origin", a.bare)
	agent := a.startAgent(ctx, "--interval", "1h", "--drift-interval", "0")
	a.waitStatus(90*time.Second, "the first apply", func(s agentStatus) bool { return s.Applied == sha })

	out, stderr, code := d.cl(ctx, "task", "run", "checks.show", "--param", "token=${secret:api#token}", "--param", "out="+home+"/cl-secret-hash", "--target", h.Name, "--wait", "--timeout", "60s")
	if code != 0 {
		t.Fatalf("task run: exit %d\n%s%s", code, out, stderr)
	}
	runOutput := out + stderr
	if !strings.Contains(runOutput, "token is ***") || !strings.Contains(runOutput, "stderr has ***") || !strings.Contains(runOutput, `"token":"***"`) {
		t.Errorf("the run's output is not masked as expected:\n%s", runOutput)
	}
	// The task got the value.
	sum := sha256.Sum256([]byte(plantedSecret))
	got, err := os.ReadFile(h.Path(home + "/cl-secret-hash"))
	if err != nil || strings.TrimSpace(string(got)) != hex.EncodeToString(sum[:]) {
		t.Fatalf("the task's hash of its token: %q %v, want the planted value's", got, err)
	}

	// Every place the value must not be.
	places := map[string]string{"cl task run --wait output": runOutput}
	status, _, _ := d.cl(ctx, "task", "status")
	places["cl task status"] = status
	runs := regexp.MustCompile(`\b01[0-9A-Z]{24}\b`).FindAllString(out, -1)
	for _, id := range runs {
		o, e, _ := d.cl(ctx, "task", "logs", "--task-id", id)
		if !strings.Contains(o, "token is ***") {
			t.Errorf("cl task logs %s:\n%s%s", id, o, e)
		}
		places["cl task logs "+id] = o + e
	}
	logs, _ := filepath.Glob(h.Path("/var/lib/celeroot/*.log"))
	var workerLog strings.Builder
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		workerLog.Write(b)
	}
	places["worker log"] = workerLog.String()
	if !strings.Contains(workerLog.String(), "secrets resolved") {
		t.Errorf("the worker's log (%v) does not show the resolution: is it the right log?\n%s", logs, workerLog.String())
	}
	places["agent log"] = agent.out.String()
	places["redis"] = dumpRedis(t, ctx, d)
	if !strings.Contains(places["redis"], "${secret:api#token}") {
		t.Error("the Redis dump does not hold the run's reference: the dump missed the run")
	}
	auditOut, auditErr, _ := d.cl(ctx, "-o", "json", "audit", "logs")
	places["audit trail"] = auditOut + auditErr
	if !strings.Contains(auditOut, `"secret.resolve"`) || !strings.Contains(auditOut, `"api#token"`) {
		t.Errorf("the audit trail has no secret.resolve record naming api#token:\n%s", auditOut)
	}
	for what, text := range places {
		if strings.Contains(text, plantedSecret) {
			t.Errorf("%s holds the secret value", what)
		}
	}
	if len(runs) != 1 || len(places) < 7 {
		t.Errorf("searched %d places (%d runs)", len(places), len(runs))
	}
}

// dumpRedis returns every key of every database-0 key of the fleet's
// Redis, with its type and its whole content.
func dumpRedis(t *testing.T, ctx context.Context, d *deployFleet) string {
	t.Helper()
	c := queuetest.Client(d.q)
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, k := range keys {
		typ, err := c.Type(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		var v any
		switch typ {
		case "string":
			v, err = c.Get(ctx, k).Result()
		case "list":
			v, err = c.LRange(ctx, k, 0, -1).Result()
		case "hash":
			v, err = c.HGetAll(ctx, k).Result()
		case "set":
			v, err = c.SMembers(ctx, k).Result()
		case "zset":
			v, err = c.ZRangeWithScores(ctx, k, 0, -1).Result()
		case "stream":
			v, err = c.XRange(ctx, k, "-", "+").Result()
		default:
			t.Fatalf("key %s has type %s the dump does not read", k, typ)
		}
		if err != nil {
			t.Fatalf("read %s (%s): %v", k, typ, err)
		}
		fmt.Fprintf(&b, "%s %s %v\n", typ, k, v)
	}
	if len(keys) < 5 {
		t.Fatalf("only %d Redis keys", len(keys))
	}
	return b.String()
}
