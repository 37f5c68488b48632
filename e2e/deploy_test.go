package e2e

import (
	"math/rand"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/deploy"
)

// TestDeployDeltaRollbackPrune: a first deploy to several hosts; a commit
// changing one file sends about that file; a release whose worker fails
// its health check is rolled back, the old SHA current and reported by
// the heartbeat; --check; pruning to keep_releases.
func TestDeployDeltaRollbackPrune(t *testing.T) {
	d := newDeployFleet(t, 3, "")
	ctx := ctxFor(t, 4*time.Minute)
	v1 := d.git("rev-parse", "HEAD")

	rep, _, code, stderr := d.deployJSON(ctx, "--all")
	if code != 0 || rep == nil {
		t.Fatalf("first deploy: exit %d\n%s\n%+v", code, stderr, rep)
	}
	for _, h := range d.f.Hosts {
		hr := hostReport(rep, h.Name)
		// A new host has no cl yet: the shell library stages there.
		if hr.Outcome != deploy.OutcomeDeployed || hr.Transfer != "full" || hr.Helper || d.current(h) != v1 || d.worker(h) != v1 {
			t.Fatalf("%s after the first deploy: %+v (current %s, worker %s)", h.Name, hr, d.current(h), d.worker(h))
		}
	}
	if _, _, code := d.cl(ctx, "host", "deploy", "--check"); code != 0 {
		t.Fatalf("--check after the first deploy: exit %d", code)
	}

	// One file changed: about that file is sent.
	content := strings.Repeat("changed line of the task payload\n", 64) // 2 KiB
	d.write("tasks/checks/payload.txt", content)
	v2 := d.commit("one file")
	if _, _, code := d.cl(ctx, "host", "deploy", "--check"); code != 2 {
		t.Fatalf("--check with a new commit: exit %d, want 2", code)
	}
	pids := map[string]int{}
	for _, h := range d.f.Hosts {
		hb, _, _ := d.q.Worker(ctx, h.Name)
		pids[h.Name] = hb.PID
	}
	rep, _, code, stderr = d.deployJSON(ctx, "--all")
	if code != 0 {
		t.Fatalf("second deploy: exit %d\n%s%s", code, stderr, describe(rep))
	}
	for _, h := range d.f.Hosts {
		hr := hostReport(rep, h.Name)
		t.Logf("%s: one-file deploy sent %d bytes (%d files sent, %d linked) in %d ms", h.Name, hr.BytesSent, hr.FilesSent, hr.FilesLinked, hr.Durations.Total)
		// The file, tar headers and the control files, uncompressed (too
		// small to be worth the host's gzip): a few KiB, not bin/cl.
		if hr.FilesSent != 1 || hr.FilesLinked < 4 || hr.BytesSent > int64(len(content))+8192 || d.current(h) != v2 || d.worker(h) != v2 {
			t.Fatalf("%s: one-file deploy %+v", h.Name, hr)
		}
		// Current's bin/cl is this very build: it probed and staged.
		if !hr.Helper {
			t.Errorf("%s: the shell library staged, not the host's cl (the deploying build)", h.Name)
		}
		// Only a task file changed: the worker reloads, no new process.
		if hb, _, _ := d.q.Worker(ctx, h.Name); !hr.Reloaded || hb.PID != pids[h.Name] || !hb.Reload {
			t.Fatalf("%s: a task-file deploy restarted the worker (reloaded %v, pid %d → %d)", h.Name, hr.Reloaded, pids[h.Name], hb.PID)
		}
	}
	// A release whose worker crashes: rolled back, v2 current and reported.
	d.write("tasks/checks/payload.txt", "broken release\n")
	v3 := d.commit("broken worker")
	d.env = []string{d.brokenDist()}
	rep, _, code, _ = d.deployJSON(ctx, "--all")
	d.env = nil
	if code != 1 {
		t.Fatalf("broken deploy: exit %d, want 1", code)
	}
	for _, h := range d.f.Hosts {
		hr := hostReport(rep, h.Name)
		if hr.Outcome != deploy.OutcomeRolledBack || hr.Rollback == nil || !hr.Rollback.Verified || hr.Rollback.To != v2 {
			t.Fatalf("%s: broken deploy %+v %+v", h.Name, hr, hr.Rollback)
		}
		if !strings.Contains(strings.Join(hr.LogTail, "\n"), "simulated crash") {
			t.Errorf("%s: the log tail does not show the crash: %q", h.Name, hr.LogTail)
		}
		if d.current(h) != v2 || d.worker(h) != v2 || hr.Worker != v2 {
			t.Fatalf("%s after rollback: current %s, worker %s, want %s", h.Name, d.current(h), d.worker(h), v2)
		}
	}
	if out, _, code := d.cl(ctx, "host", "deploy", "--check"); code != 2 || !strings.Contains(out, "differs") {
		t.Fatalf("--check after the rollback: exit %d\n%s", code, out)
	}

	// Two good releases: keep_releases 2 (plus the rollback target).
	d.write("tasks/checks/payload.txt", "fixed\n")
	v4 := d.commit("fixed")
	if _, _, code, stderr := d.deployJSON(ctx, "--all"); code != 0 {
		t.Fatalf("deploy v4: exit %d\n%s", code, stderr)
	}
	d.write("tasks/checks/payload.txt", "again\n")
	v5 := d.commit("again")
	if _, _, code, stderr := d.deployJSON(ctx, "--all"); code != 0 {
		t.Fatalf("deploy v5: exit %d\n%s", code, stderr)
	}
	for _, h := range d.f.Hosts {
		rels := d.releases(h)
		if len(rels) != 2 || !contains(rels, v4) || !contains(rels, v5) {
			t.Errorf("%s: releases %v, want %s and %s (v1 %s, v2 %s, v3 %s pruned)", h.Name, rels, v4, v5, v1, v2, v3)
		}
		d.assertStatRecord(h, v5, "bin/cl", "cl.yaml", "tasks/checks/payload.txt")
	}
	d.assertCurrentSound()
}

// TestDeployRollingStopsOnCutOffHost: a host cut off mid-rolling stops the
// rollout within the budget, and the report says which hosts run what.
func TestDeployRollingStopsOnCutOffHost(t *testing.T) {
	d := newDeployFleet(t, 5, "")
	ctx := ctxFor(t, 4*time.Minute)
	v1 := d.git("rev-parse", "HEAD")
	if _, _, code, stderr := d.deployJSON(ctx, "--all"); code != 0 {
		t.Fatalf("first deploy: exit %d\n%s", code, stderr)
	}
	d.write("tasks/checks/payload.txt", "v2\n")
	v2 := d.commit("v2")
	victim := d.f.Hosts[2]
	if err := victim.CutOff(); err != nil {
		t.Fatal(err)
	}
	defer victim.Restore()
	start := time.Now()
	rep, _, code, stderr := d.deployJSON(ctx, "--all", "--strategy", "rolling", "--batch", "1", "--max-fail", "0")
	took := time.Since(start)
	if code != 1 || rep == nil || !rep.Stopped {
		t.Fatalf("rolling deploy: exit %d, %+v\n%s", code, rep, stderr)
	}
	want := []deploy.Outcome{deploy.OutcomeDeployed, deploy.OutcomeDeployed, deploy.OutcomeFailed, deploy.OutcomeSkipped, deploy.OutcomeSkipped}
	for i, h := range d.f.Hosts {
		hr := hostReport(rep, h.Name)
		if hr.Outcome != want[i] {
			t.Errorf("%s: %s, want %s (%s)", h.Name, hr.Outcome, want[i], hr.Error)
		}
	}
	if hr := hostReport(rep, victim.Name); hr.Reason != "timeout" && hr.Reason != "unreachable" {
		t.Errorf("cut-off host's reason %q (%s)", hr.Reason, hr.Error)
	}
	// Which hosts run what: the report's worker column, and the hosts.
	for i, h := range d.f.Hosts {
		hr := hostReport(rep, h.Name)
		wantV := v1
		if i < 2 {
			wantV = v2
		}
		if i != 2 && (hr.Worker != wantV || d.current(h) != wantV) {
			t.Errorf("%s: report worker %s, current %s; want %s", h.Name, hr.Worker, d.current(h), wantV)
		}
	}
	if took > time.Minute {
		t.Errorf("the rollout took %s to stop", took)
	}

	// The same with --rollback-on-failure: the updated hosts go back.
	d.write("tasks/checks/payload.txt", "v3\n")
	d.commit("v3")
	rep, _, code, stderr = d.deployJSON(ctx, "--all", "--strategy", "rolling", "--batch", "2", "--rollback-on-failure")
	if code != 1 || rep == nil || !rep.Stopped {
		t.Fatalf("rolling deploy with --rollback-on-failure: exit %d\n%s%s", code, stderr, describe(rep))
	}
	for i, h := range d.f.Hosts[:2] {
		hr := hostReport(rep, h.Name)
		if hr.Outcome != deploy.OutcomeRolledBack || hr.Rollback == nil || !hr.Rollback.Verified || d.current(h) != v2 || d.worker(h) != v2 {
			t.Errorf("host %d: %+v %+v (current %s, worker %s, want %s)", i+1, hr, hr.Rollback, d.current(h), d.worker(h), v2)
		}
	}
	if hr := hostReport(rep, d.f.Hosts[4].Name); hr.Outcome != deploy.OutcomeSkipped || d.current(d.f.Hosts[4]) != v1 {
		t.Errorf("host5: %+v", hr)
	}
}

// TestDeployKilledMidway: cl killed during a deploy leaves every current
// sound; the lock names the dead holder; the next deploy (after
// --force-unlock) completes and cleans the staging leftovers.
func TestDeployKilledMidway(t *testing.T) {
	d := newDeployFleet(t, 3, "")
	ctx := ctxFor(t, 4*time.Minute)
	if _, _, code, stderr := d.deployJSON(ctx, "--all"); code != 0 {
		t.Fatalf("first deploy: exit %d\n%s", code, stderr)
	}
	// A big new file makes the transfer take a moment.
	big := make([]byte, 24<<20)
	rand.New(rand.NewSource(1)).Read(big)
	if err := os.WriteFile(d.dir+"/tasks/checks/big.bin", big, 0o644); err != nil {
		t.Fatal(err)
	}
	v2 := d.commit("big")
	killed := d.killDuring(ctx, deploy.StepTransfer)
	if !killed {
		t.Fatal("the deploy ended before it could be killed")
	}
	d.assertCurrentSound()
	_, stderr, code := d.cl(ctx, "host", "deploy", "--all")
	if code != 1 || !strings.Contains(stderr, "--force-unlock") {
		t.Fatalf("deploy while the dead holder's lock lives: exit %d\n%s", code, stderr)
	}
	id := lockID(stderr)
	rep, _, code, stderr := d.deployJSON(ctx, "--all", "--force-unlock", id)
	if code != 0 {
		t.Fatalf("deploy after --force-unlock %s: exit %d\n%s\n%+v", id, code, stderr, rep)
	}
	for _, h := range d.f.Hosts {
		if d.current(h) != v2 || d.worker(h) != v2 {
			t.Errorf("%s: current %s, worker %s, want %s", h.Name, d.current(h), d.worker(h), v2)
		}
		entries, _ := os.ReadDir(h.Path("/opt/celeroot/releases"))
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") {
				t.Errorf("%s: leftover %s", h.Name, e.Name())
			}
		}
	}
	d.assertCurrentSound()
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// lockID finds "--force-unlock ID" in an error message.
func lockID(msg string) string {
	_, after, _ := strings.Cut(msg, "--force-unlock ")
	return strings.TrimSpace(strings.Fields(after + " ")[0])
}
