// Package queuetest is the conformance suite of package queue: one set of
// tests that every Redis backend (redis-server, Redis Cluster, the embedded
// miniredis) must pass, and helpers that start those backends for tests of
// this and other packages.
package queuetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/celeroot/celeroot/queue"
)

// NewQueue returns a queue in a fresh namespace of the backend under test;
// every call on one backend must use the same Redis.
type NewQueue func(t *testing.T, opts ...queue.Option) *queue.Queue

var nsSeq atomic.Int64

// Opener returns a NewQueue that opens url in a new namespace each time and
// closes the queue when the test ends.
func Opener(url string) NewQueue {
	return func(t *testing.T, opts ...queue.Option) *queue.Queue {
		t.Helper()
		ns := queue.Namespace{Cluster: fmt.Sprintf("t%d-%d", nsSeq.Add(1), rand.IntN(1e6)), Env: "test"}
		q, err := queue.Open(context.Background(), url, ns, opts...)
		if err != nil {
			t.Fatalf("open %s: %v", url, err)
		}
		t.Cleanup(func() { _ = q.Close() })
		return q
	}
}

// RunSuite runs the conformance suite against one backend.
func RunSuite(t *testing.T, newQueue NewQueue) {
	tests := []struct {
		name string
		f    func(*testing.T, NewQueue)
	}{
		{"EnqueueClaimComplete", testEnqueueClaimComplete},
		{"IdempotentEnqueue", testIdempotentEnqueue},
		{"RenewedLeaseNeverReclaimed", testRenewedLeaseNeverReclaimed},
		{"ExpiredLeaseReclaimed", testExpiredLeaseReclaimed},
		{"HostQueueReplay", testHostQueueReplay},
		{"RetryBackoffThenFailed", testRetryBackoffThenFailed},
		{"MaxDeliveriesDead", testMaxDeliveriesDead},
		{"KillQueued", testKillQueued},
		{"KillRunningDurable", testKillRunningDurable},
		{"Logs", testLogs},
		{"LogBudget", testLogBudget},
		{"Heartbeats", testHeartbeats},
		{"RunTTL", testRunTTL},
		{"NamespaceIsolation", testNamespaceIsolation},
		{"ReleaseCountsNoDelivery", testReleaseCountsNoDelivery},
		{"ReleaseHostQueue", testReleaseHostQueue},
		{"PermanentFailure", testPermanentFailure},
		{"CompleteAll", testCompleteAll},
		{"Completer", testCompleter},
		{"ClaimCarriesResults", testClaimCarriesResults},
		{"EnqueueMany", testEnqueueMany},
		{"ConcurrentEnqueue", testConcurrentEnqueue},
		{"ClaimWaitsOnAllQueues", testClaimWaitsOnAllQueues},
		{"HeartbeatTTL", testHeartbeatTTL},
		{"FinishedIndex", testFinishedIndex},
		{"FinishedIndexWorkerDied", testFinishedIndexWorkerDied},
		{"Stress", testStress},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, newQueue) })
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func enqueue(t *testing.T, q *queue.Queue, target string, maxRetries int) string {
	t.Helper()
	id, dup, err := q.Enqueue(ctxT(t), &queue.Run{Task: "ping", Module: "builtin", Target: target,
		MaxRetries: maxRetries, Params: map[string]any{"n": 1.0}}, "")
	if err != nil || dup {
		t.Fatalf("enqueue to %s: id %q dup %v err %v", target, id, dup, err)
	}
	return id
}

func claim(t *testing.T, q *queue.Queue, consumer, target string, want int) []*queue.Delivery {
	t.Helper()
	ds, err := q.Claim(ctxT(t), consumer, []string{target}, 10, 0)
	if err != nil {
		t.Fatalf("claim %s as %s: %v", target, consumer, err)
	}
	if len(ds) != want {
		t.Fatalf("claim %s as %s: got %d deliveries, want %d", target, consumer, len(ds), want)
	}
	return ds
}

func get(t *testing.T, q *queue.Queue, id string) *queue.Run {
	t.Helper()
	r, err := q.Get(ctxT(t), id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return r
}

func wantState(t *testing.T, q *queue.Queue, id string, want queue.State) *queue.Run {
	t.Helper()
	r := get(t, q, id)
	if r.State != want {
		t.Fatalf("run %s: state %s (reason %q), want %s", id, r.State, r.Reason, want)
	}
	return r
}

func complete(t *testing.T, q *queue.Queue, d *queue.Delivery, res queue.Result) *queue.Run {
	t.Helper()
	r, err := q.Complete(ctxT(t), d, res)
	if err != nil {
		t.Fatalf("complete %s: %v", d.Run.ID, err)
	}
	return r
}

func wantStats(t *testing.T, q *queue.Queue, target string, want queue.QueueStats) {
	t.Helper()
	st, err := q.Stats(ctxT(t), target)
	if err != nil {
		t.Fatalf("stats of %s: %v", target, err)
	}
	want.Queue = target
	if st[0] != want {
		t.Fatalf("stats of %s: got %+v, want %+v", target, st[0], want)
	}
}

// eventually retries f until it returns true or d has passed.
func eventually(t *testing.T, d time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func testEnqueueClaimComplete(t *testing.T, newQueue NewQueue) {
	q := newQueue(t)
	ctx := ctxT(t)
	target := queue.RoleQueue("web")
	r := &queue.Run{Task: "deploy", Module: "tasks.web", Target: target, MaxRetries: 1,
		Timeout: time.Minute, Params: map[string]any{"version": "1.2", "n": 3.0},
		ScheduleID: "nightly", Tick: time.UnixMilli(1700000000000)}
	id, dup, err := q.Enqueue(ctx, r, "")
	if err != nil || dup || id != r.ID {
		t.Fatalf("enqueue: id %q (run %q) dup %v err %v", id, r.ID, dup, err)
	}
	got := wantState(t, q, id, queue.StateQueued)
	if got.Task != "deploy" || got.Module != "tasks.web" || got.Params["version"] != "1.2" ||
		got.Timeout != time.Minute || got.ScheduleID != "nightly" || !got.Tick.Equal(r.Tick) || got.CreatedAt.IsZero() {
		t.Fatalf("stored run differs: %+v", got)
	}
	wantStats(t, q, target, queue.QueueStats{Waiting: 1})
	if qs, _ := q.Queues(ctx); len(qs) != 1 || qs[0] != target {
		t.Fatalf("queues: %v", qs)
	}

	d := claim(t, q, "w1", target, 1)[0]
	if d.Run.ID != id || d.Run.State != queue.StateRunning || d.Run.Worker != "w1" || d.Run.Deliveries != 1 || d.Run.StartedAt.IsZero() {
		t.Fatalf("delivery: %+v", d.Run)
	}
	wantStats(t, q, target, queue.QueueStats{Pending: 1, Running: 1})
	if running, err := q.Running(ctx, target); err != nil || len(running) != 1 || running[0].ID != id {
		t.Fatalf("running: %v %v", running, err)
	}
	claim(t, q, "w2", target, 0)

	done := complete(t, q, d, queue.Result{})
	if done.State != queue.StateSucceeded || done.FinishedAt.IsZero() || done.ExitCode != 0 {
		t.Fatalf("completed run: %+v", done)
	}
	wantState(t, q, id, queue.StateSucceeded)
	wantStats(t, q, target, queue.QueueStats{})
	claim(t, q, "w1", target, 0)
	if _, err := q.Complete(ctx, d, queue.Result{}); !errors.Is(err, queue.ErrLeaseLost) {
		t.Fatalf("second complete: %v, want ErrLeaseLost", err)
	}
	runs, err := q.Wait(ctx, id)
	if err != nil || runs[0].State != queue.StateSucceeded {
		t.Fatalf("wait: %v %v", runs, err)
	}
	if _, err := q.Get(ctx, "NOSUCHRUN"); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("get unknown run: %v, want ErrNotFound", err)
	}
	if _, _, err := q.Enqueue(ctx, &queue.Run{Task: "x", Target: "web"}, ""); err == nil {
		t.Fatal("enqueue to a target without host:/role: succeeded")
	}
}

func testIdempotentEnqueue(t *testing.T, newQueue NewQueue) {
	q := newQueue(t)
	ctx := ctxT(t)
	target := queue.HostQueue("db1")
	id1, dup1, err1 := q.Enqueue(ctx, &queue.Run{Task: "backup", Target: target}, "sched:backup:1700000000")
	id2, dup2, err2 := q.Enqueue(ctx, &queue.Run{Task: "backup", Target: target}, "sched:backup:1700000000")
	if err1 != nil || err2 != nil || dup1 || !dup2 || id1 != id2 {
		t.Fatalf("same key: (%s %v %v) then (%s %v %v), want the same id, second a duplicate", id1, dup1, err1, id2, dup2, err2)
	}
	wantStats(t, q, target, queue.QueueStats{Waiting: 1})
	id3, dup3, err := q.Enqueue(ctx, &queue.Run{Task: "backup", Target: target}, "sched:backup:1700000060")
	if err != nil || dup3 || id3 == id1 {
		t.Fatalf("other key: %s %v %v", id3, dup3, err)
	}
	if r := get(t, q, id1); r.IdempotencyKey != "sched:backup:1700000000" {
		t.Fatalf("idempotency key not recorded: %+v", r)
	}
	// An explicit id that exists already is refused, not overwritten.
	if _, _, err := q.Enqueue(ctx, &queue.Run{ID: id1, Task: "other", Target: target}, ""); !errors.Is(err, queue.ErrExists) {
		t.Fatalf("reused id: %v, want ErrExists", err)
	}
	wantStats(t, q, target, queue.QueueStats{Waiting: 2})
}

func testRenewedLeaseNeverReclaimed(t *testing.T, newQueue NewQueue) {
	// A lease 20 times the renewal period: a loaded machine (load average
	// 40 on 2 cores) delayed a renewal past a 400 ms lease.
	lease := time.Second
	q := newQueue(t, queue.WithLeaseTTL(lease))
	ctx := ctxT(t)
	target := queue.RoleQueue("batch")
	id := enqueue(t, q, target, 0)
	d := claim(t, q, "w1", target, 1)[0]
	// The run outlives its lease four times; its worker renews (every
	// 50 ms, as a worker's heartbeat would), another worker of the role
	// keeps trying to reclaim it.
	stop := make(chan struct{})
	renewed := make(chan error, 1)
	go func() {
		last := time.Now()
		for {
			select {
			case <-stop:
				renewed <- nil
				return
			case <-time.After(50 * time.Millisecond):
			}
			lost, killed, err := q.Renew(ctx, d)
			if err != nil || len(lost) != 0 || len(killed) != 0 {
				renewed <- fmt.Errorf("renew: lost %d killed %d err %v", len(lost), len(killed), err)
				return
			}
			if gap := time.Since(last); gap > lease {
				renewed <- fmt.Errorf("machine too loaded: %v between renewals, lease %v", gap, lease)
				return
			}
			last = time.Now()
		}
	}()
	end := time.Now().Add(4 * lease)
	for time.Now().Before(end) {
		if ds, err := q.Reclaim(ctx, "w2", target, 5); err != nil || len(ds) != 0 {
			t.Fatalf("reclaim of a renewed run: %d deliveries, err %v", len(ds), err)
		}
		claim(t, q, "w2", target, 0)
		time.Sleep(lease / 20)
	}
	close(stop)
	if err := <-renewed; err != nil {
		t.Fatal(err)
	}
	r := complete(t, q, d, queue.Result{})
	if r.State != queue.StateSucceeded || r.Deliveries != 1 || r.Worker != "w1" {
		t.Fatalf("run %s after a long renewed run: %+v", id, r)
	}
}

func testExpiredLeaseReclaimed(t *testing.T, newQueue NewQueue) {
	lease := 200 * time.Millisecond
	q := newQueue(t, queue.WithLeaseTTL(lease))
	ctx := ctxT(t)
	target := queue.RoleQueue("batch")
	id := enqueue(t, q, target, 0)
	old := claim(t, q, "w1", target, 1)[0] // w1 dies: no renew, no complete
	if ds, _ := q.Reclaim(ctx, "w2", target, 5); len(ds) != 0 {
		t.Fatal("reclaimed a run whose lease is live")
	}
	var d *queue.Delivery
	start := time.Now()
	eventually(t, 20*lease, "reclaim after lease expiry", func() bool {
		ds, err := q.Reclaim(ctx, "w2", target, 5)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) > 0 {
			d = ds[0]
		}
		return d != nil
	})
	if since := time.Since(start); since < lease/2 {
		t.Fatalf("reclaimed after %v, before the lease of %v could expire", since, lease)
	}
	if d.Run.ID != id || d.Run.Worker != "w2" || d.Run.Deliveries != 2 {
		t.Fatalf("reclaimed run: %+v", d.Run)
	}
	if lost, _, _ := q.Renew(ctx, old); len(lost) != 1 {
		t.Fatal("the dead worker's renew succeeded after its run was reclaimed")
	}
	if _, err := q.Complete(ctx, old, queue.Result{}); !errors.Is(err, queue.ErrLeaseLost) {
		t.Fatalf("dead worker's complete: %v, want ErrLeaseLost", err)
	}
	if r := complete(t, q, d, queue.Result{}); r.State != queue.StateSucceeded {
		t.Fatalf("reclaimed run: %+v", r)
	}
	wantStats(t, q, target, queue.QueueStats{})
}

func testHostQueueReplay(t *testing.T, newQueue NewQueue) {
	q := newQueue(t) // default lease (30 s): replay must not wait for it
	ctx := ctxT(t)
	target := queue.HostQueue("h1")
	id := enqueue(t, q, target, 0)
	old := claim(t, q, "h1", target, 1)[0] // then the worker process dies

	// The worker restarts (a new process: a new Queue on the same Redis).
	q2, err := queue.New(Client(q), q.Namespace())
	if err != nil {
		t.Fatal(err)
	}
	if ds, err := q2.Replay(ctx, "h2", target); err != nil || len(ds) != 0 {
		t.Fatalf("another host replayed h1's runs: %d, %v", len(ds), err)
	}
	ds, err := q2.Replay(ctx, "h1", target)
	if err != nil || len(ds) != 1 {
		t.Fatalf("replay: %d deliveries, err %v", len(ds), err)
	}
	if d := ds[0]; d.Run.ID != id || d.Run.Deliveries != 2 || d.Run.State != queue.StateRunning {
		t.Fatalf("replayed run: %+v", d.Run)
	}
	if _, err := q.Complete(ctx, old, queue.Result{}); !errors.Is(err, queue.ErrLeaseLost) {
		t.Fatalf("complete by the dead process: %v, want ErrLeaseLost", err)
	}
	complete(t, q2, ds[0], queue.Result{})
	wantState(t, q, id, queue.StateSucceeded)
	if ds, _ := q2.Replay(ctx, "h1", target); len(ds) != 0 {
		t.Fatal("a completed run was replayed")
	}
}

func testRetryBackoffThenFailed(t *testing.T, newQueue NewQueue) {
	base := 150 * time.Millisecond
	q := newQueue(t, queue.WithRetryBackoff(base, 250*time.Millisecond))
	target := queue.RoleQueue("flaky")
	id := enqueue(t, q, target, 2)
	boom := errors.New("boom")
	for attempt := range 3 {
		var d *queue.Delivery
		failedAt := time.Now()
		eventually(t, 3*time.Second, fmt.Sprintf("attempt %d delivered", attempt), func() bool {
			ds, err := q.Claim(ctxT(t), "w1", []string{target}, 1, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(ds) == 1 {
				d = ds[0]
			}
			return d != nil
		})
		if attempt > 0 {
			wantDelay := min(base<<(attempt-1), 250*time.Millisecond)
			if waited := time.Since(failedAt); waited < wantDelay-20*time.Millisecond {
				t.Fatalf("attempt %d delivered after %v, before its backoff of %v", attempt, waited, wantDelay)
			}
		}
		if d.Run.Attempt != attempt {
			t.Fatalf("delivery attempt %d, want %d", d.Run.Attempt, attempt)
		}
		r := complete(t, q, d, queue.Result{ExitCode: 3, Err: boom})
		want := queue.StateRetrying
		if attempt == 2 {
			want = queue.StateFailed
		}
		if r.State != want || r.Reason != "boom" || r.ExitCode != 3 {
			t.Fatalf("after attempt %d: %+v, want %s", attempt, r, want)
		}
		if want == queue.StateRetrying {
			wantStats(t, q, target, queue.QueueStats{Delayed: 1})
		}
	}
	r := wantState(t, q, id, queue.StateFailed)
	if r.Attempt != 2 || r.FinishedAt.IsZero() {
		t.Fatalf("failed run: %+v", r)
	}
	wantStats(t, q, target, queue.QueueStats{})
}

func testMaxDeliveriesDead(t *testing.T, newQueue NewQueue) {
	lease := 150 * time.Millisecond
	q := newQueue(t, queue.WithLeaseTTL(lease), queue.WithMaxDeliveries(2))
	ctx := ctxT(t)
	target := queue.RoleQueue("crashy")
	id := enqueue(t, q, target, 5)
	claim(t, q, "w1", target, 1) // w1 dies
	eventually(t, 20*lease, "second delivery", func() bool {
		ds, _ := q.Reclaim(ctx, "w2", target, 1)
		return len(ds) == 1 // w2 dies too
	})
	eventually(t, 20*lease, "dead", func() bool {
		ds, err := q.Reclaim(ctx, "w3", target, 1)
		if err != nil || len(ds) != 0 {
			t.Fatalf("third delivery past max deliveries: %d, %v", len(ds), err)
		}
		return get(t, q, id).State == queue.StateDead
	})
	r := get(t, q, id)
	if r.Reason == "" || r.FinishedAt.IsZero() || r.Attempt != 0 {
		t.Fatalf("dead run: %+v", r)
	}
	t.Logf("dead reason: %s", r.Reason)
	wantStats(t, q, target, queue.QueueStats{})
}

func testRunTTL(t *testing.T, newQueue NewQueue) {
	q := newQueue(t, queue.WithRunTTL(time.Hour))
	ctx := ctxT(t)
	target := queue.RoleQueue("web")
	id := enqueue(t, q, target, 0)
	// The record lives about the run TTL after its last change; the id →
	// queue pointer at least as long (up to a tenth longer), so that a run
	// found by its id is never missing its pointer.
	check := func(q *queue.Queue, when string, ttl time.Duration) {
		t.Helper()
		rec, err1 := Client(q).PTTL(ctx, q.Keys().Run(target, id)).Result()
		ptr, err2 := Client(q).PTTL(ctx, q.Keys().Where(id)).Result()
		if err1 != nil || err2 != nil || rec <= ttl-ttl/60 || rec > ttl || ptr < rec || ptr > ttl+ttl/10 {
			t.Fatalf("%s: record ttl %v (%v), pointer ttl %v (%v); want record about %v, pointer between it and %v",
				when, rec, err1, ptr, err2, ttl, ttl+ttl/10)
		}
	}
	check(q, "queued", time.Hour)
	d := claim(t, q, "w1", target, 1)[0]
	check(q, "running", time.Hour)
	complete(t, q, d, queue.Result{})
	check(q, "finished", time.Hour)

	// A run completed later than a tenth of the TTL after it was created
	// renews its pointer with its record.
	q = newQueue(t, queue.WithRunTTL(3*time.Second))
	id = enqueue(t, q, target, 0)
	d = claim(t, q, "w1", target, 1)[0]
	time.Sleep(400 * time.Millisecond)
	complete(t, q, d, queue.Result{})
	check(q, "finished late", 3*time.Second)
}
