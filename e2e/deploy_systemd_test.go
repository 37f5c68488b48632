package e2e

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/deploy"
	"github.com/celeroot/celeroot/e2e/testhost"
)

// newSystemdDeployFleet is newDeployFleet on hosts that run a real systemd
// as PID 1 of their PID namespace (testhost.WithSystemd). Installing units
// needs root, so cl logs in as the test user and becomes root with sudo.
func newSystemdDeployFleet(t *testing.T, n int) *deployFleet {
	t.Helper()
	if r := testhost.SystemdSkipReason(); r != "" {
		t.Skip(r)
	}
	if _, err := exec.LookPath("sudo"); err != nil {
		t.Skip("sudo not installed")
	}
	return newDeployFleetWith(t, n, fleetSetup{sshExtra: "  become: sudo\n", hosts: []testhost.Option{testhost.WithSystemd()}})
}

// systemctl runs systemctl in h (as root, talking to h's systemd) and
// returns its trimmed output; the exit status is ignored (is-active and
// is-enabled answer with it).
func systemctl(ctx context.Context, h *testhost.Host, args ...string) string {
	out, _ := h.Command(ctx, append([]string{"systemctl"}, args...)...).CombinedOutput()
	return strings.TrimSpace(string(out))
}

// TestDeploySystemd: on hosts whose PID 1 is systemd the worker runs as the
// unit celeroot-worker: installed, enabled and started by the first deploy,
// restarted by systemd on the next, rolled back with journal lines when the
// new worker fails, disabled and removed by `cl host remove`.
func TestDeploySystemd(t *testing.T) {
	d := newSystemdDeployFleet(t, 2)
	buildStart := time.Now()
	CL(t) // built once per run: not part of the phases below
	t.Logf("cl built in %s", time.Since(buildStart).Round(time.Millisecond))
	start := time.Now()
	ctx := ctxFor(t, 2*time.Minute)
	phase := func(name string, rep *deploy.Report) {
		var per []string
		if rep != nil {
			for _, hr := range rep.Hosts {
				per = append(per, hr.Host+" "+time.Duration(hr.Durations.Total*int64(time.Millisecond)).String())
			}
		}
		t.Logf("%s: %s since start %v", name, time.Since(start).Round(time.Millisecond), per)
	}
	const unit = "/etc/systemd/system/celeroot-worker.service"
	v1 := d.git("rev-parse", "HEAD")

	rep, _, code, stderr := d.deployJSON(ctx, "--all")
	phase("first deploy", rep)
	if code != 0 || rep == nil {
		t.Fatalf("first deploy: exit %d\n%s%s", code, stderr, describe(rep))
	}
	mainPID := map[string]string{}
	for _, h := range d.f.Hosts {
		hr := hostReport(rep, h.Name)
		if hr.Outcome != deploy.OutcomeDeployed || d.current(h) != v1 || d.worker(h) != v1 || hr.Worker != v1 {
			t.Fatalf("%s after the first deploy: %+v (current %s, worker %s)", h.Name, hr, d.current(h), d.worker(h))
		}
		data, err := os.ReadFile(h.Path(unit))
		if err != nil {
			t.Fatalf("%s: no unit: %v", h.Name, err)
		}
		want := `ExecStart="/opt/celeroot/current/bin/cl" "worker" "--host" "` + h.Name + `"`
		if !strings.Contains(string(data), "\n"+want+"\n") {
			t.Errorf("%s: unit lacks %s:\n%s", h.Name, want, data)
		}
		if got := systemctl(ctx, h, "is-enabled", "celeroot-worker"); got != "enabled" {
			t.Errorf("%s: is-enabled %q", h.Name, got)
		}
		if got := systemctl(ctx, h, "is-active", "celeroot-worker"); got != "active" {
			t.Errorf("%s: is-active %q", h.Name, got)
		}
		if _, err := os.Stat(h.Path(deploy.StateDir + "/celeroot-worker.lock")); err == nil {
			t.Errorf("%s: the fallback supervisor was used", h.Name)
		}
		mainPID[h.Name] = systemctl(ctx, h, "show", "-p", "MainPID", "--value", "celeroot-worker")
	}

	// A commit that changes only a task file: the worker reloads (same
	// MainPID, SIGUSR1) and reports the new release.
	d.write("tasks/checks/payload.txt", "tasks only\n")
	vt := d.commit("tasks only")
	rep, _, code, stderr = d.deployJSON(ctx, "--all")
	phase("task-file deploy", rep)
	if code != 0 {
		t.Fatalf("task-file deploy: exit %d\n%s%s", code, stderr, describe(rep))
	}
	for _, h := range d.f.Hosts {
		hr := hostReport(rep, h.Name)
		pid := systemctl(ctx, h, "show", "-p", "MainPID", "--value", "celeroot-worker")
		if hr.Outcome != deploy.OutcomeDeployed || !hr.Reloaded || d.worker(h) != vt || pid != mainPID[h.Name] {
			t.Fatalf("%s after the task-file deploy: reloaded %v, worker %s (want %s), MainPID %s (was %s)", h.Name, hr.Reloaded, d.worker(h), vt, pid, mainPID[h.Name])
		}
	}

	// A commit that changes cl.yaml: systemd restarts the worker, which
	// reports it.
	d.write("tasks/checks/payload.txt", "v2\n")
	d.write("cl.yaml", strings.Replace(readFile(t, d.cfg), "  keep_releases: 2\n", "  keep_releases: 3\n", 1))
	v2 := d.commit("v2")
	rep, _, code, stderr = d.deployJSON(ctx, "--all")
	phase("second deploy", rep)
	if code != 0 {
		t.Fatalf("second deploy: exit %d\n%s%s", code, stderr, describe(rep))
	}
	for _, h := range d.f.Hosts {
		hr := hostReport(rep, h.Name)
		pid := systemctl(ctx, h, "show", "-p", "MainPID", "--value", "celeroot-worker")
		if hr.Outcome != deploy.OutcomeDeployed || d.current(h) != v2 || d.worker(h) != v2 || hr.Worker != v2 {
			t.Fatalf("%s after the second deploy: %+v (current %s, worker %s)", h.Name, hr, d.current(h), d.worker(h))
		}
		if pid == "0" || pid == mainPID[h.Name] || systemctl(ctx, h, "is-active", "celeroot-worker") != "active" {
			t.Errorf("%s: worker MainPID %s (was %s): not restarted by systemd", h.Name, pid, mainPID[h.Name])
		}
	}

	// A release whose worker crashes: systemd keeps restarting it (no start
	// limit) until the health check gives up; rolled back, with the
	// journal's lines.
	d.write("tasks/checks/payload.txt", "broken\n")
	d.commit("broken worker")
	d.env = []string{d.brokenDist()}
	rep, _, code, _ = d.deployJSON(ctx, "--all")
	phase("broken deploy", rep)
	d.env = nil
	if code != 1 || rep == nil {
		t.Fatalf("broken deploy: exit %d, want 1%s", code, describe(rep))
	}
	for _, h := range d.f.Hosts {
		hr := hostReport(rep, h.Name)
		if hr.Outcome != deploy.OutcomeRolledBack || hr.Rollback == nil || !hr.Rollback.Verified || hr.Rollback.To != v2 {
			t.Fatalf("%s: broken deploy %+v %+v", h.Name, hr, hr.Rollback)
		}
		tail := strings.Join(hr.LogTail, "\n")
		t.Logf("%s: rolled back after %d ms: %s; %d journal lines", h.Name, hr.Durations.Total, hr.Error, len(hr.LogTail))
		if !strings.Contains(tail, "simulated crash") || !strings.Contains(tail, "celeroot-worker.service: Scheduled restart job") {
			t.Errorf("%s: the journal lines do not show the crash and systemd's restarts: %q", h.Name, hr.LogTail)
		}
		if strings.Contains(tail, "Start request repeated too quickly") {
			t.Errorf("%s: systemd gave up restarting the worker (start limit): %q", h.Name, hr.LogTail)
		}
		if d.current(h) != v2 || d.worker(h) != v2 || hr.Worker != v2 || systemctl(ctx, h, "is-active", "celeroot-worker") != "active" {
			t.Fatalf("%s after rollback: current %s, worker %s, unit %s; want %s", h.Name, d.current(h), d.worker(h),
				systemctl(ctx, h, "is-active", "celeroot-worker"), v2)
		}
	}

	// cl host remove: the unit stopped, disabled and gone; the worker too.
	h := d.f.Hosts[0]
	if out, stderr, code := d.cl(ctx, "host", "remove", h.Name); code != 0 {
		t.Fatalf("remove: exit %d\n%s\n%s", code, out, stderr)
	}
	phase("remove", nil)
	if _, err := os.Stat(h.Path(unit)); err == nil {
		t.Errorf("%s: unit file left after remove", h.Name)
	}
	if got := systemctl(ctx, h, "is-active", "celeroot-worker"); got != "inactive" {
		t.Errorf("%s: is-active %q after remove", h.Name, got)
	}
	if got := systemctl(ctx, h, "is-enabled", "celeroot-worker"); got == "enabled" {
		t.Errorf("%s: is-enabled %q after remove", h.Name, got)
	}
	if out, err := h.Exec(ctx, "sh", "-c", "pgrep -f '^/opt/celeroot/current/bin/cl worker' || true"); err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("%s: worker processes after remove: %q %v", h.Name, out, err)
	}
	if other := d.f.Hosts[1]; systemctl(ctx, other, "is-active", "celeroot-worker") != "active" {
		t.Errorf("%s: worker stopped by the remove of %s", other.Name, h.Name)
	}
}
