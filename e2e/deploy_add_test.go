package e2e

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/deploy"
	"github.com/celeroot/celeroot/e2e/testhost"
)

// addResult runs `cl -o json host add host2 …` and returns the report.
func (d *deployFleet) add(ctx context.Context, h *testhost.Host, extra ...string) (*deploy.AddReport, int, string) {
	d.t.Helper()
	args := append([]string{"-o", "json", "host", "add", h.Name, "--role", "web", "--address", h.Addr}, extra...)
	out, stderr, code := d.cl(ctx, args...)
	var rep *deploy.AddReport
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var l struct {
			Type   string            `json:"type"`
			Report *deploy.AddReport `json:"report"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Type == "report" {
			rep = l.Report
		}
	}
	if rep == nil {
		d.t.Fatalf("host add printed no report (exit %d)\n%s\n%s", code, out, stderr)
	}
	return rep, code, stderr
}

// assertNotAdded checks that a failed add changed neither cl.yaml nor git
// and left nothing on the host.
func (d *deployFleet) assertNotAdded(h *testhost.Host, rep *deploy.AddReport, code int, failedAt deploy.Step, head string, cfg []byte) {
	d.t.Helper()
	last := rep.Steps[len(rep.Steps)-1]
	if code != 1 || rep.Registered || last.Step != failedAt || last.OK {
		d.t.Fatalf("add failing at %s: exit %d, %+v", failedAt, code, rep)
	}
	if len(rep.Leftovers) > 0 {
		d.t.Errorf("failing at %s left %v", failedAt, rep.Leftovers)
	}
	if got := d.git("rev-parse", "HEAD"); got != head {
		d.t.Errorf("failing at %s moved HEAD to %s", failedAt, got)
	}
	if b, _ := os.ReadFile(d.cfg); string(b) != string(cfg) {
		d.t.Errorf("failing at %s changed cl.yaml", failedAt)
	}
	for _, dir := range []string{"/opt/celeroot", "/var/lib/celeroot"} {
		entries, _ := os.ReadDir(h.Path(dir))
		for _, e := range entries {
			d.t.Errorf("failing at %s left %s/%s on %s", failedAt, dir, e.Name(), h.Name)
		}
	}
	if code := d.superviseStatus(h); code != 3 {
		d.t.Errorf("failing at %s: a supervisor runs on %s (status exit %d)", failedAt, h.Name, code)
	}
}

// superviseStatus runs `cl supervise status celeroot-worker` inside h.
func (d *deployFleet) superviseStatus(h *testhost.Host) int {
	cmd := h.Command(context.Background(), CL(d.t), "supervise", "status", "celeroot-worker")
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(interface{ ExitCode() int }); ok {
			return ee.ExitCode()
		}
		return -1
	}
	return 0
}

// TestHostAddSteps: `cl host add` failing at each step registers nothing
// and leaves the host clean; then a good add registers and commits the SHA
// the host runs; `cl host remove` stops the worker and unregisters.
func TestHostAddSteps(t *testing.T) {
	d := newDeployFleet(t, 2, "")
	ctx := ctxFor(t, 4*time.Minute)
	h := d.f.Hosts[1]
	if _, stderr, code := d.cl(ctx, "host", "remove", h.Name, "--no-stop", "--no-commit"); code != 0 {
		t.Fatalf("unregister %s: %s", h.Name, stderr)
	}
	head := d.commit("only host1")
	cfg, _ := os.ReadFile(d.cfg)

	rep, code, _ := d.add(ctx, h, "--port", "2222")
	d.assertNotAdded(h, rep, code, deploy.StepSSH, head, cfg)

	os.Chmod(h.Path("/opt/celeroot"), 0o555)
	rep, code, _ = d.add(ctx, h)
	os.Chmod(h.Path("/opt/celeroot"), 0o755)
	d.assertNotAdded(h, rep, code, deploy.StepPrerequisites, head, cfg)
	if !strings.Contains(rep.Error, "cannot create or write /opt/celeroot") {
		t.Errorf("prerequisites error: %s", rep.Error)
	}

	os.Chmod(h.Path("/var/lib/celeroot"), 0o555)
	rep, code, _ = d.add(ctx, h)
	os.Chmod(h.Path("/var/lib/celeroot"), 0o755)
	d.assertNotAdded(h, rep, code, deploy.StepService, head, cfg)

	d.env = []string{d.brokenDist()}
	rep, code, _ = d.add(ctx, h)
	d.env = nil
	d.assertNotAdded(h, rep, code, deploy.StepHealth, head, cfg)

	// setup_command failing on host2 only: the code step fails.
	d.write("cl.yaml", string(cfg)+"  setup_command: [\"/bin/sh\", \"-c\", \"test \\\"$CL_HOST\\\" != host2\"]\n")
	head2 := d.commit("setup fails on host2")
	cfg2, _ := os.ReadFile(d.cfg)
	rep, code, _ = d.add(ctx, h)
	d.assertNotAdded(h, rep, code, deploy.StepCode, head2, cfg2)
	d.write("cl.yaml", string(cfg))
	head = d.commit("no setup")

	rep, code, stderr := d.add(ctx, h)
	if code != 0 || !rep.Registered || len(rep.Steps) != 7 || rep.Commit == "" {
		t.Fatalf("add: exit %d %+v\n%s", code, rep, stderr)
	}
	if got := d.git("rev-parse", "HEAD"); got != rep.Commit || d.git("rev-parse", "HEAD~1") != head {
		t.Fatalf("HEAD %s, want the registration commit %s on %s", got, rep.Commit, head)
	}
	if d.current(h) != rep.Commit || d.worker(h) != rep.Commit {
		t.Fatalf("%s runs %s (worker %s), want %s", h.Name, d.current(h), d.worker(h), rep.Commit)
	}
	if st := d.git("status", "--porcelain"); st != "" {
		t.Fatalf("work tree after add: %q", st)
	}

	out, stderr, code := d.cl(ctx, "host", "remove", h.Name)
	if code != 0 || !strings.Contains(out, "stopped and disabled the worker") {
		t.Fatalf("remove: exit %d\n%s\n%s", code, out, stderr)
	}
	if d.superviseStatus(h) != 3 {
		t.Error("the worker's supervisor still runs after remove")
	}
	if len(d.releases(h)) == 0 {
		t.Error("remove without --purge deleted the releases")
	}
	if strings.Contains(d.git("show", "HEAD:cl.yaml"), "  "+h.Name+":") {
		t.Error("host still in the committed cl.yaml")
	}
}
