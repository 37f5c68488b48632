package worker

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/queue"
)

func TestScriptTaskGetsParamsEnvStdinAndLogs(t *testing.T) {
	t.Parallel()
	f := newFixture(t, roleOpts{concurrency: 2})
	f.start(nil)
	id := f.enqueue("echo", "t", map[string]any{"name": "ada lovelace", "loud": true}, nil)
	ping := f.enqueue("ping", "builtin", nil, nil)
	runs := f.wait(10*time.Second, id, ping)
	for _, r := range runs {
		if r.State != queue.StateSucceeded || r.ExitCode != 0 || r.Worker != "h1" {
			t.Errorf("run %s (%s): state %s, exit %d, worker %q, reason %q; want succeeded, 0, h1", r.ID, r.Task, r.State, r.ExitCode, r.Worker, r.Reason)
		}
		if r.FinishedAt.Before(r.StartedAt) || r.StartedAt.IsZero() {
			t.Errorf("run %s: started %v, finished %v", r.ID, r.StartedAt, r.FinishedAt)
		}
	}
	log := f.logText(id)
	for _, want := range []string{
		"stdout: name=ada lovelace count=3 loud=true\n",
		"stdout: task=echo module=t run=" + id + " host=h1 release=" + f.dir + " fixed=fixed value\n",
		`stdout: stdin={"count":3,"loud":true,"name":"ada lovelace"}` + "\n",
		"stderr: to stderr\n",
		"worker: exit code 0 after ",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log of echo lacks %q:\n%s", want, log)
		}
	}
	if log := f.logText(ping); !strings.Contains(log, "stdout: pong\n") {
		t.Errorf("log of ping lacks pong:\n%s", log)
	}
}

func TestBadParamsAndFailuresAreRecorded(t *testing.T) {
	t.Parallel()
	f := newFixture(t, roleOpts{})
	f.start(nil)
	hostile := f.enqueue("echo", "t", map[string]any{"name": "x; rm -rf /"}, nil)
	unknown := f.enqueue("echo", "t", map[string]any{"name": "ok", "nope": 1}, nil)
	fails := f.enqueue("fails", "t", nil, nil)
	runs := f.wait(10*time.Second, hostile, unknown, fails)
	checks := []struct{ reason, log string }{
		{`does not match the pattern`, "worker: "},
		{`has no param "nope"`, "worker: "},
		{"exit code 3", "stderr: broken"},
	}
	for i, r := range runs {
		if r.State != queue.StateFailed || !strings.Contains(r.Reason, checks[i].reason) {
			t.Errorf("run %s: state %s reason %q; want failed with %q", r.Task, r.State, r.Reason, checks[i].reason)
		}
		if log := f.logText(r.ID); !strings.Contains(log, checks[i].log) {
			t.Errorf("log of %s lacks %q:\n%s", r.Task, checks[i].log, log)
		}
	}
	if runs[2].ExitCode != 3 {
		t.Errorf("exit code of fails = %d, want 3", runs[2].ExitCode)
	}
}

func TestRefusesModuleTheRoleDoesNotLoad(t *testing.T) {
	t.Parallel()
	f := newFixture(t, roleOpts{})
	f.start(nil)
	retries := func(r *queue.Run) { r.MaxRetries = 3 } // a refusal is permanent: never retried
	byModule := f.enqueue("forbidden", "other", nil, retries)
	qualified := f.enqueue("other.forbidden", "", nil, retries)
	runs := f.wait(10*time.Second, byModule, qualified)
	for _, r := range runs {
		if r.State != queue.StateFailed || !strings.Contains(r.Reason, `module "other" is not loaded`) || r.Attempt != 0 {
			t.Errorf("run %s/%s: state %s reason %q attempt %d; want failed at once, module not loaded", r.Module, r.Task, r.State, r.Reason, r.Attempt)
		}
	}
}

func TestTimeoutKillsTheProcessGroup(t *testing.T) {
	t.Parallel()
	f := newFixture(t, roleOpts{})
	f.start(nil)
	pidfile := filepath.Join(t.TempDir(), "pids")
	id := f.enqueue("spawn", "t", map[string]any{"pidfile": pidfile}, func(r *queue.Run) { r.Timeout = time.Second })
	pids := readPids(t, pidfile)
	r := f.wait(15*time.Second, id)[0]
	if r.State != queue.StateFailed || !strings.Contains(r.Reason, "timed out after 1s") {
		t.Errorf("state %s reason %q; want failed, timed out", r.State, r.Reason)
	}
	if r.ExitCode != 128+15 {
		t.Errorf("exit code %d, want 143 (SIGTERM)", r.ExitCode)
	}
	waitFor(t, 5*time.Second, "the task's processes to be gone", func() bool {
		for _, p := range pids {
			if alive(p) {
				return false
			}
		}
		return true
	})
}

func TestKillStopsTheProcessGroup(t *testing.T) {
	t.Parallel()
	f := newFixture(t, roleOpts{})
	f.start(nil)
	pidfile := filepath.Join(t.TempDir(), "pids")
	id := f.enqueue("spawn", "t", map[string]any{"pidfile": pidfile}, nil)
	pids := readPids(t, pidfile)
	res, err := f.q.Kill(context.Background(), id)
	if err != nil || res != queue.KillSignalled {
		t.Fatalf("kill: %v, %v; want signalled", res, err)
	}
	start := time.Now()
	r := f.wait(15*time.Second, id)[0]
	t.Logf("killed after %s", time.Since(start))
	if r.State != queue.StateKilled {
		t.Errorf("state %s reason %q; want killed", r.State, r.Reason)
	}
	for _, p := range pids {
		if alive(p) {
			t.Errorf("process %d of the killed task still runs", p)
		}
	}
	// Killed right after enqueue (before or just after its start): killed too.
	early := f.enqueue("slow", "t", map[string]any{"seconds": "5"}, nil)
	if res, err := f.q.Kill(context.Background(), early); err != nil || res == queue.KillTooLate {
		t.Fatalf("kill early: %v %v", res, err)
	}
	if r := f.wait(10*time.Second, early)[0]; r.State != queue.StateKilled {
		t.Errorf("early killed run: state %s", r.State)
	}
}

func TestMaxTasksPerChildRecycles(t *testing.T) {
	t.Parallel()
	f := newFixture(t, roleOpts{concurrency: 2, maxTasks: 3})
	var ids []string
	for range 5 {
		ids = append(ids, f.enqueue("ping", "builtin", nil, nil))
	}
	w := f.start(nil)
	if err := w.wait(t, 15*time.Second); err != nil {
		t.Fatalf("recycle: Run returned %v, want nil", err)
	}
	done := 0
	for _, id := range ids {
		switch st := f.state(id); st {
		case queue.StateSucceeded:
			done++
		case queue.StateQueued:
		default:
			t.Errorf("run %s is %s after the recycle, want succeeded or queued", id, st)
		}
	}
	if done != 3 {
		t.Errorf("%d runs succeeded before the recycle, want exactly 3", done)
	}
	// The fresh process takes the rest (and recycles again after 3).
	f.start(nil)
	f.wait(10*time.Second, ids...)
}

func TestGracefulStopHandsBackAndRestartCompletes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, roleOpts{concurrency: 2})
	marker := filepath.Join(t.TempDir(), "marker")
	w := f.start(func(o *Options) { o.Grace = 300 * time.Millisecond })
	short := f.enqueue("slow", "t", map[string]any{"seconds": "0.1", "marker": marker}, nil)
	long := f.enqueue("slow", "t", map[string]any{"seconds": "3", "marker": marker}, nil)
	waitFor(t, 5*time.Second, "both runs to start", func() bool {
		return f.state(long) == queue.StateRunning && f.state(short) != queue.StateQueued
	})
	start := time.Now()
	if err := w.stop(t, 10*time.Second); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	t.Logf("stopped in %s", time.Since(start))
	if got := f.state(short); got != queue.StateSucceeded {
		t.Errorf("short run: %s, want succeeded within the grace period", got)
	}
	if got := f.state(long); got != queue.StateQueued {
		t.Fatalf("long run after stop: %s, want queued (handed back)", got)
	}
	f.start(nil)
	r := f.wait(15*time.Second, long)[0]
	if r.State != queue.StateSucceeded || r.Deliveries != 1 {
		t.Errorf("long run after restart: %s, deliveries %d; want succeeded, 1 (a hand-back is not a delivery)", r.State, r.Deliveries)
	}
	b, _ := os.ReadFile(marker)
	if lines := strings.Fields(string(b)); len(lines) != 2 || strings.Count(string(b), long) != 1 {
		t.Errorf("marker %q: want the short run and the long run once each", b)
	}
}

// TestFiveStopsInARowNeverDead: a run handed back by more graceful stops
// than the max deliveries (5) still completes.
func TestFiveStopsInARowNeverDead(t *testing.T) {
	t.Parallel()
	f := newFixture(t, roleOpts{})
	id := f.enqueue("slow", "t", map[string]any{"seconds": "2"}, nil)
	for i := range 6 {
		w := f.start(func(o *Options) { o.Grace = 50 * time.Millisecond })
		waitFor(t, 5*time.Second, "run to start", func() bool { return f.state(id) == queue.StateRunning })
		if err := w.stop(t, 15*time.Second); err != nil {
			t.Fatal(err)
		}
		if got := f.state(id); got != queue.StateQueued {
			t.Fatalf("after stop %d: %s, want queued", i+1, got)
		}
	}
	f.start(nil)
	if r := f.wait(15*time.Second, id)[0]; r.State != queue.StateSucceeded || r.Deliveries != 1 {
		t.Fatalf("after six stops: %s (%s), deliveries %d; want succeeded, 1", r.State, r.Reason, r.Deliveries)
	}
}

func TestScheduleForbidSkipsOverlappingRun(t *testing.T) {
	t.Parallel()
	f := newFixture(t, roleOpts{concurrency: 2})
	f.start(nil)
	sched := func(r *queue.Run) { r.ScheduleID = "nightly" }
	first := f.enqueue("slow", "t", map[string]any{"seconds": "2"}, sched)
	waitFor(t, 5*time.Second, "first run to start", func() bool { return f.state(first) == queue.StateRunning })
	second := f.enqueue("slow", "t", map[string]any{"seconds": "0"}, sched)
	other := f.enqueue("slow", "t", map[string]any{"seconds": "0"}, nil)
	runs := f.wait(10*time.Second, first, second, other)
	if runs[0].State != queue.StateSucceeded || runs[2].State != queue.StateSucceeded {
		t.Errorf("first %s, unscheduled %s; want both succeeded", runs[0].State, runs[2].State)
	}
	if runs[1].State != queue.StateFailed || !strings.Contains(runs[1].Reason, "skipped: schedule nightly has concurrency forbid") {
		t.Errorf("overlapping run: %s %q; want failed, skipped", runs[1].State, runs[1].Reason)
	}
}

func TestHeartbeat(t *testing.T) {
	t.Parallel()
	f := newFixture(t, roleOpts{concurrency: 3})
	w := f.start(nil)
	f.wait(10*time.Second, f.enqueue("ping", "builtin", nil, nil))
	var hb queue.Heartbeat
	waitFor(t, 5*time.Second, "a heartbeat with one processed run", func() bool {
		var ok bool
		hb, ok, _ = f.q.Worker(context.Background(), "h1")
		return ok && hb.Processed == 1
	})
	if hb.Role != "app" || hb.SHA != "abc123" || hb.Version != "test" || hb.PID != os.Getpid() || hb.Slots != 3 || hb.Started.IsZero() {
		t.Errorf("heartbeat %+v", hb)
	}
	w.stop(t, 10*time.Second)
}

func TestRunRejectsUnknownHost(t *testing.T) {
	t.Parallel()
	f := newFixture(t, roleOpts{})
	err := Run(context.Background(), Options{Config: f.cfg, Host: "nope", Queue: f.q})
	if !errors.Is(err, ErrUnknownHost) || !strings.Contains(err.Error(), "h1") {
		t.Errorf("Run with unknown host: %v", err)
	}
}

func TestRoleQueueAndReclaimFromDeadWorker(t *testing.T) {
	t.Parallel()
	f := newFixture(t, roleOpts{concurrency: 2})
	ctx := context.Background()
	// A worker of the role that died right after claiming: it never renews.
	lost := &queue.Run{Task: "ping", Module: "builtin", Target: queue.RoleQueue("app_q")}
	if _, _, err := f.q.Enqueue(ctx, lost, ""); err != nil {
		t.Fatal(err)
	}
	if ds, err := f.q.Claim(ctx, "ghost", []string{queue.RoleQueue("app_q")}, 1, 0); err != nil || len(ds) != 1 {
		t.Fatalf("ghost claim: %v %v", ds, err)
	}
	f.start(nil)
	fresh := &queue.Run{Task: "ping", Module: "builtin", Target: queue.RoleQueue("app_q")}
	if _, _, err := f.q.Enqueue(ctx, fresh, ""); err != nil {
		t.Fatal(err)
	}
	runs := f.wait(15*time.Second, fresh.ID, lost.ID)
	for _, r := range runs {
		if r.State != queue.StateSucceeded || r.Worker != "h1" {
			t.Errorf("role run %s: %s on %q, want succeeded on h1", r.ID, r.State, r.Worker)
		}
	}
	if runs[1].Deliveries != 2 {
		t.Errorf("reclaimed run: %d deliveries, want 2 (ghost, then h1)", runs[1].Deliveries)
	}
}

// An idle worker is blocked reading its queues; a stop must not wait for
// that read to time out (a deploy restarts the worker and waits for it).
func TestIdleWorkerStopsWithoutWaitingOutItsRead(t *testing.T) {
	t.Parallel()
	f := newFixture(t, roleOpts{concurrency: 2})
	w := f.start(nil)
	f.wait(10*time.Second, f.enqueue("ping", "builtin", nil, nil))
	time.Sleep(100 * time.Millisecond) // back in the blocking read
	start := time.Now()
	w.stop(t, 10*time.Second)
	if took := time.Since(start); took >= claimBlock/2 {
		t.Errorf("idle worker took %s to stop; its read blocks for %s and must be abandoned", took, claimBlock)
	}
	// A run enqueued after the stop is not lost: the next worker takes it.
	id := f.enqueue("ping", "builtin", nil, nil)
	f.start(nil)
	if r := f.wait(10*time.Second, id)[0]; r.State != queue.StateSucceeded {
		t.Errorf("run after restart: %s %q", r.State, r.Reason)
	}
}

// The worker on Redis Cluster, where its two queues live in different slots
// (no read can wait on both): host and role runs, a subprocess task with
// its log, a failure, and a kill.
func TestWorkerOnRedisCluster(t *testing.T) {
	t.Parallel()
	f := newFixture(t, roleOpts{concurrency: 3, cluster: true})
	f.start(nil)
	toRole := func(r *queue.Run) { r.Target = queue.RoleQueue("app_q") }
	echo := f.enqueue("echo", "t", map[string]any{"name": "grace hopper"}, nil)
	ids := []string{echo, f.enqueue("ping", "builtin", nil, nil), f.enqueue("ping", "builtin", nil, toRole),
		f.enqueue("true", "t", nil, toRole)}
	for _, r := range f.wait(20*time.Second, ids...) {
		if r.State != queue.StateSucceeded || r.Worker != "h1" {
			t.Errorf("run %s (%s on %s): %s %q; want succeeded on h1", r.ID, r.Task, r.Target, r.State, r.Reason)
		}
	}
	if log := f.logText(echo); !strings.Contains(log, "stdout: name=grace hopper count=3") {
		t.Errorf("log of echo:\n%s", log)
	}
	failed := f.enqueue("fails", "t", nil, nil)
	if r := f.wait(20*time.Second, failed)[0]; r.State != queue.StateFailed || r.ExitCode != 3 {
		t.Errorf("failing run: %s exit %d; want failed, 3", r.State, r.ExitCode)
	}
	slow := f.enqueue("slow", "t", map[string]any{"seconds": "30"}, toRole)
	waitFor(t, 10*time.Second, "the slow run to start", func() bool { return f.state(slow) == queue.StateRunning })
	if res, err := f.q.Kill(context.Background(), slow); err != nil || res != queue.KillSignalled {
		t.Fatalf("kill: %v %v; want signalled", res, err)
	}
	if r := f.wait(20*time.Second, slow)[0]; r.State != queue.StateKilled {
		t.Errorf("killed run: %s %q", r.State, r.Reason)
	}
}
