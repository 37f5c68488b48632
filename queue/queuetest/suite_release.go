package queuetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/celeroot/celeroot/queue"
)

// testReleaseCountsNoDelivery: a role-queue run handed back five times in a
// row (five graceful stops) is claimable at once by another worker, never
// counts a delivery, and never becomes dead.
func testReleaseCountsNoDelivery(t *testing.T, newQueue NewQueue) {
	q := newQueue(t, queue.WithMaxDeliveries(2))
	ctx := ctxT(t)
	target := queue.RoleQueue("web")
	id := enqueue(t, q, target, 0)
	for i := range 5 {
		d := claim(t, q, fmt.Sprintf("w%d", i), target, 1)[0]
		if d.Run.Deliveries != 1 {
			t.Fatalf("start %d: deliveries %d, want 1", i, d.Run.Deliveries)
		}
		if err := q.Release(ctx, d); err != nil {
			t.Fatalf("release %d: %v", i, err)
		}
		if r := wantState(t, q, id, queue.StateQueued); r.Deliveries != 0 {
			t.Fatalf("released run: deliveries %d, want 0", r.Deliveries)
		}
		if err := q.Release(ctx, d); !errors.Is(err, queue.ErrLeaseLost) {
			t.Fatalf("second release: %v, want ErrLeaseLost", err)
		}
		if _, err := q.Complete(ctx, d, queue.Result{}); !errors.Is(err, queue.ErrLeaseLost) {
			t.Fatalf("complete after release: %v, want ErrLeaseLost", err)
		}
		wantStats(t, q, target, queue.QueueStats{Waiting: 1})
	}
	d := claim(t, q, "w9", target, 1)[0]
	if r := complete(t, q, d, queue.Result{}); r.State != queue.StateSucceeded || r.Deliveries != 1 {
		t.Fatalf("after five releases: %+v", r)
	}
	wantStats(t, q, target, queue.QueueStats{})
}

// testReleaseHostQueue: a host-queue run handed back is started by the
// host's next worker process at once (no lease to wait for); a killed and
// handed-back run is not started again.
func testReleaseHostQueue(t *testing.T, newQueue NewQueue) {
	q := newQueue(t)
	ctx := ctxT(t)
	target := queue.HostQueue("h1")
	id := enqueue(t, q, target, 0)
	if err := q.Release(ctx, claim(t, q, "h1", target, 1)[0]); err != nil {
		t.Fatal(err)
	}
	q2, err := queue.New(Client(q), q.Namespace())
	if err != nil {
		t.Fatal(err)
	}
	if ds, _ := q2.Replay(ctx, "h1", target); len(ds) != 0 {
		t.Fatalf("a released run was replayed as if its worker had died: %+v", ds[0].Run)
	}
	d := claim(t, q2, "h1", target, 1)[0]
	if d.Run.ID != id {
		t.Fatalf("claimed %s, want %s", d.Run.ID, id)
	}
	if _, err := q.Kill(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := q2.Release(ctx, d); err != nil {
		t.Fatal(err)
	}
	claim(t, q2, "h1", target, 0)
	wantState(t, q, id, queue.StateKilled)
	wantStats(t, q, target, queue.QueueStats{})
}

// testPermanentFailure: a permanent failure is not retried.
func testPermanentFailure(t *testing.T, newQueue NewQueue) {
	q := newQueue(t, queue.WithRetryBackoff(time.Millisecond, time.Millisecond))
	target := queue.RoleQueue("web")
	id := enqueue(t, q, target, 3)
	d := claim(t, q, "w1", target, 1)[0]
	r := complete(t, q, d, queue.Result{ExitCode: -1, Err: errors.New("refused: module not loaded"), Permanent: true})
	if r.State != queue.StateFailed || r.Attempt != 0 || r.Reason != "refused: module not loaded" {
		t.Fatalf("permanent failure: %+v", r)
	}
	time.Sleep(5 * time.Millisecond)
	claim(t, q, "w1", target, 0)
	wantState(t, q, id, queue.StateFailed)
	wantStats(t, q, target, queue.QueueStats{})
}

// testCompleteAll: results of several queues in one call, with log lines;
// a lost delivery is reported per run; a repeated call answers as stored.
func testCompleteAll(t *testing.T, newQueue NewQueue) {
	q := newQueue(t)
	ctx := ctxT(t)
	a, b := queue.HostQueue("h1"), queue.RoleQueue("web")
	for range 3 {
		enqueue(t, q, a, 0)
		enqueue(t, q, b, 1)
	}
	ds := append(claim(t, q, "h1", a, 3), claim(t, q, "h1", b, 3)...)
	if err := q.Release(ctx, ds[5]); err != nil { // its result must come back as lost
		t.Fatal(err)
	}
	cs := make([]queue.Completion, len(ds))
	for i, d := range ds {
		cs[i] = queue.Completion{Delivery: d, Result: queue.Result{Lines: []queue.LogLine{{Stream: "stdout", Text: "pong"}}}}
	}
	cs[4].Result = queue.Result{ExitCode: 2}
	recs, err := q.CompleteAll(ctx, cs)
	if err != nil || len(recs) != len(cs) {
		t.Fatalf("complete all: %d records, %v", len(recs), err)
	}
	want := []queue.State{queue.StateSucceeded, queue.StateSucceeded, queue.StateSucceeded,
		queue.StateSucceeded, queue.StateRetrying, ""}
	for i, r := range recs {
		if r.State != want[i] || (i < 5) != (r.Err == nil) {
			t.Fatalf("record %d: %+v, want %s", i, r, want[i])
		}
		wantLog := "pong" // even for run 5: lines are written when the result is dropped too
		if i == 4 {
			wantLog = ""
		}
		if lines, _, _ := q.Logs(ctx, ds[i].Run.ID, "", 0); logTexts(lines) != wantLog {
			t.Fatalf("log of run %d: %q", i, logTexts(lines))
		}
	}
	if !errors.Is(recs[5].Err, queue.ErrLeaseLost) || recs[4].Reason != "exit code 2" || recs[4].Attempt != 1 {
		t.Fatalf("records: lost %v, retrying %+v", recs[5].Err, recs[4])
	}
	again, err := q.CompleteAll(ctx, cs[:4])
	if err != nil || again[0].State != queue.StateSucceeded || again[0].Err != nil {
		t.Fatalf("repeated call: %+v %v", again, err)
	}
	if _, err := q.Complete(ctx, ds[0], queue.Result{}); !errors.Is(err, queue.ErrLeaseLost) {
		t.Fatalf("Complete after CompleteAll: %v, want ErrLeaseLost", err)
	}
	wantStats(t, q, a, queue.QueueStats{})
}

// testCompleter: many concurrent results go through a Completer; each is
// recorded once.
func testCompleter(t *testing.T, newQueue NewQueue) {
	q := newQueue(t)
	ctx := ctxT(t)
	target := queue.RoleQueue("web")
	const n = 200
	for range n {
		enqueue(t, q, target, 0)
	}
	ds := claim200(t, q, target, n)
	c := q.NewCompleter(ctx, 16, 0)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, d := range ds {
		wg.Go(func() {
			r, err := c.Complete(ctx, d, queue.Result{})
			if err == nil && r.State != queue.StateSucceeded {
				err = fmt.Errorf("run %s recorded %s", d.Run.ID, r.State)
			}
			errs <- err
		})
	}
	wg.Wait()
	c.Close()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Complete(ctx, ds[0], queue.Result{}); !errors.Is(err, queue.ErrCompleterClosed) {
		t.Fatalf("complete after close: %v", err)
	}
	wantStats(t, q, target, queue.QueueStats{})
}

func claim200(t *testing.T, q *queue.Queue, target string, n int) []*queue.Delivery {
	t.Helper()
	var ds []*queue.Delivery
	for len(ds) < n {
		got, err := q.Claim(ctxT(t), "w1", []string{target}, n-len(ds), 0)
		if err != nil || len(got) == 0 {
			t.Fatalf("claim: %d, %v", len(got), err)
		}
		ds = append(ds, got...)
	}
	return ds
}

// testEnqueueMany: one round trip, idempotency keys honoured within the
// batch and across calls.
func testEnqueueMany(t *testing.T, newQueue NewQueue) {
	q := newQueue(t)
	ctx := ctxT(t)
	a, b := queue.HostQueue("h1"), queue.HostQueue("h2")
	runs := []*queue.Run{{Task: "ping", Target: a}, {Task: "ping", Target: b, IdempotencyKey: "k1"},
		{Task: "ping", Target: b, IdempotencyKey: "k1"}, {Task: "", Target: a}}
	res, err := q.EnqueueMany(ctx, runs...)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || res[1].Err != nil || res[1].Dup || !res[2].Dup || res[2].ID != res[1].ID || res[3].Err == nil {
		t.Fatalf("enqueue many: %+v", res)
	}
	if _, err := q.Get(ctx, runs[2].ID); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("the duplicate's id resolves: %v", err)
	}
	wantState(t, q, res[0].ID, queue.StateQueued)
	wantStats(t, q, a, queue.QueueStats{Waiting: 1})
	wantStats(t, q, b, queue.QueueStats{Waiting: 1})
}

// testClaimWaitsOnAllQueues: a claim waiting on two queues gets a run
// enqueued on the second one while it waits.
func testClaimWaitsOnAllQueues(t *testing.T, newQueue NewQueue) {
	q := newQueue(t)
	ctx := ctxT(t)
	qs := []string{queue.HostQueue("h1"), queue.RoleQueue("web")}
	if err := q.EnsureQueues(ctx, qs...); err != nil {
		t.Fatal(err)
	}
	// The enqueue reports to the test (which waits for it): its reply may
	// arrive after the claim has already returned the run.
	enqueued := make(chan error, 1)
	go func() {
		time.Sleep(100 * time.Millisecond)
		_, _, err := q.Enqueue(ctx, &queue.Run{Task: "ping", Module: "builtin", Target: qs[1]}, "")
		enqueued <- err
	}()
	start := time.Now()
	ds, err := q.Claim(ctx, "h1", qs, 4, 3*time.Second)
	if eerr := <-enqueued; eerr != nil {
		t.Fatalf("enqueue: %v", eerr)
	}
	if err != nil || len(ds) != 1 || ds[0].Queue != qs[1] {
		t.Fatalf("claim: %d deliveries, %v", len(ds), err)
	}
	_, cluster := Client(q).(*redis.ClusterClient)
	if took := time.Since(start); !cluster && took > time.Second {
		t.Fatalf("claim took %v: it did not wait on both queues at once", took)
	}
	complete(t, q, ds[0], queue.Result{})
}

// testHeartbeatTTL: the getter returns the option.
func testHeartbeatTTL(t *testing.T, newQueue NewQueue) {
	if got := newQueue(t, queue.WithHeartbeatTTL(7*time.Second)).HeartbeatTTL(); got != 7*time.Second {
		t.Fatalf("HeartbeatTTL() = %v", got)
	}
}

// testClaimCarriesResults: results waiting in a Completer are written in
// the round trip of the next claim that starts runs (ClaimNow, ClaimWait),
// with their log lines, and their callers get what was recorded; the runs
// of both claims are as they should be.
func testClaimCarriesResults(t *testing.T, newQueue NewQueue) {
	q := newQueue(t)
	ctx := ctxT(t)
	host, role := queue.HostQueue("h1"), queue.RoleQueue("web")
	first := []string{enqueue(t, q, host, 0), enqueue(t, q, role, 0), enqueue(t, q, host, 0)}
	c := q.NewCompleter(ctx, 16, time.Hour) // holds results until a claim takes them
	defer c.Close()
	ds, err := q.ClaimNow(ctx, "h1", []queue.Want{{Queue: role, N: 4}, {Queue: host, N: 4}}, c)
	if err != nil || len(ds) != 3 {
		t.Fatalf("claim: %d runs, %v; want 3", len(ds), err)
	}
	type result struct {
		rec queue.Recorded
		err error
	}
	results := make(chan result, len(ds))
	for i, d := range ds {
		res := queue.Result{Lines: []queue.LogLine{{Stream: "stdout", Text: "done " + d.Run.ID}}}
		if i == 1 {
			res.ExitCode = 3
		}
		go func() {
			r, err := c.Complete(ctx, d, res)
			results <- result{r, err}
		}()
	}
	eventually(t, 10*time.Second, "results queued", func() bool { return c.Waiting() == len(ds) })
	next := []string{enqueue(t, q, host, 0), enqueue(t, q, role, 0)}
	got, err := q.ClaimWait(ctx, "h1", []string{host, role}, 4, time.Second, c)
	for len(got) < 2 && err == nil {
		var more []*queue.Delivery
		more, err = q.ClaimWait(ctx, "h1", []string{host, role}, 4, time.Second, c)
		got = append(got, more...)
	}
	if err != nil || len(got) != 2 {
		t.Fatalf("second claim: %d runs, %v; want 2", len(got), err)
	}
	for range ds {
		var r result
		select {
		case r = <-results:
		case <-time.After(10 * time.Second):
			t.Fatalf("results not written by the claim (%d still waiting)", c.Waiting())
		}
		if r.err != nil || (r.rec.State != queue.StateSucceeded && r.rec.State != queue.StateFailed) {
			t.Fatalf("carried result: %+v %v", r.rec, r.err)
		}
	}
	if c.Waiting() != 0 {
		t.Fatalf("%d results still waiting after the claims", c.Waiting())
	}
	states := map[queue.State]int{}
	for _, id := range first {
		r := get(t, q, id)
		states[r.State]++
		lines, _, err := q.Logs(ctx, id, "", 0)
		if err != nil || len(lines) != 1 || lines[0].Text != "done "+id {
			t.Fatalf("log of %s: %+v %v", id, lines, err)
		}
	}
	if states[queue.StateSucceeded] != 2 || states[queue.StateFailed] != 1 {
		t.Fatalf("states of the first runs: %v; want 2 succeeded, 1 failed", states)
	}
	for _, id := range next {
		if s := get(t, q, id).State; s != queue.StateRunning {
			t.Fatalf("run %s of the second claim is %s, want running", id, s)
		}
	}
}
