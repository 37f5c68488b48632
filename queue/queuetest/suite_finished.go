package queuetest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/queue"
)

// testFinishedIndex: a completed run and a run killed before it started
// are in their queue's finished index, newest first across queues; a
// retry is not; n caps the answer. Then the apply history and the
// delivery ledger.
func testFinishedIndex(t *testing.T, newQueue NewQueue) {
	q := newQueue(t)
	ctx := ctxT(t)
	a, b := queue.HostQueue("fin-a"), queue.RoleQueue("fin-b")
	ok := enqueue(t, q, a, 0)
	complete(t, q, claim(t, q, "w1", a, 1)[0], queue.Result{})
	retried := enqueue(t, q, b, 1)
	complete(t, q, claim(t, q, "w1", b, 1)[0], queue.Result{ExitCode: 3, Err: errors.New("exit 3")})
	killed := enqueue(t, q, a, 0)
	time.Sleep(2 * time.Millisecond) // finish times are in ms: order them
	if res, err := q.Kill(ctx, killed); err != nil || res != queue.KillDone {
		t.Fatalf("kill %s: %v %v", killed, res, err)
	}
	fin, err := q.Finished(ctx, 10, a, b)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(fin); fmt.Sprint(got) != fmt.Sprint([]string{killed, ok}) {
		t.Fatalf("finished = %v, want [%s %s] (the retrying run %s is not finished)", got, killed, ok, retried)
	}
	if fin[1].State != queue.StateSucceeded || fin[0].State != queue.StateKilled {
		t.Fatalf("finished states %s, %s", fin[0].State, fin[1].State)
	}
	if one, err := q.Finished(ctx, 1); err != nil || len(one) != 1 {
		t.Fatalf("Finished(1, all queues) = %d runs, %v; want 1", len(one), err)
	}
	if none, err := q.Finished(ctx, 10, queue.HostQueue("fin-none")); err != nil || len(none) != 0 {
		t.Fatalf("finished of an unused queue = %v, %v", none, err)
	}

	// History: newest first, capped.
	for i := range queue.HistoryCap + 3 {
		if err := q.AppendApply(ctx, fmt.Appendf(nil, `{"n":%d}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	h, err := q.Applies(ctx, queue.HistoryCap+10)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != queue.HistoryCap || string(h[0]) != fmt.Sprintf(`{"n":%d}`, queue.HistoryCap+2) {
		t.Fatalf("history: %d records, first %s; want %d, newest first", len(h), h[0], queue.HistoryCap)
	}

	// The webhook delivery ledger: batches oldest first, newest first out,
	// capped at keep.
	for _, batch := range [][][]byte{{[]byte("a"), []byte("b")}, {[]byte("c"), []byte("d")}, nil} {
		if err := q.AppendDeliveries(ctx, batch, 3); err != nil {
			t.Fatal(err)
		}
	}
	if ds, err := q.Deliveries(ctx, 10); err != nil || fmt.Sprintf("%s", ds) != "[d c b]" {
		t.Fatalf("deliveries = %s, %v; want [d c b]", ds, err)
	}
}

func ids(rs []*queue.Run) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

// testFinishedIndexWorkerDied: the paths that end a run without its worker
// completing it put it in the finished index too, once, with a reason
// that says what happened, and out of the running set: a run whose
// workers kept dying (dead past max deliveries), a run killed after its
// worker died (Kill finds no lease), a run killed while running whose
// worker then died (the next start finds the kill), and a killed run its
// worker handed back when stopping (Release; the next claim finds the
// kill). A run whose worker died and that another worker took over is not
// finished.
func testFinishedIndexWorkerDied(t *testing.T, newQueue NewQueue) {
	lease := 150 * time.Millisecond
	q := newQueue(t, queue.WithLeaseTTL(lease), queue.WithMaxDeliveries(2))
	ctx := ctxT(t)
	dead, orphan, killedRunning, released, taken := queue.RoleQueue("fin-dead"), queue.RoleQueue("fin-orphan"),
		queue.RoleQueue("fin-killrun"), queue.HostQueue("fin-release"), queue.RoleQueue("fin-taken")

	// Dead: started twice, both workers died.
	deadID := enqueue(t, q, dead, 3)
	claim(t, q, "w1", dead, 1)
	eventually(t, 40*lease, "second start", func() bool { ds, _ := q.Reclaim(ctx, "w2", dead, 1); return len(ds) == 1 })
	eventually(t, 40*lease, "dead", func() bool {
		_, _ = q.Reclaim(ctx, "w3", dead, 1)
		return get(t, q, deadID).State == queue.StateDead
	})

	// Killed after its worker died: Kill finds the lease gone.
	orphanID := enqueue(t, q, orphan, 3)
	claim(t, q, "w4", orphan, 1)
	eventually(t, 40*lease, "kill of an orphaned run", func() bool {
		res, err := q.Kill(ctx, orphanID)
		if err != nil {
			t.Fatal(err)
		}
		return res == queue.KillDone
	})

	// Killed while running, then its worker died before reacting: the next
	// worker's start finds the kill.
	killRunID := enqueue(t, q, killedRunning, 3)
	claim(t, q, "w5", killedRunning, 1)
	if res, err := q.Kill(ctx, killRunID); err != nil || res != queue.KillSignalled {
		t.Fatalf("kill running: %v %v", res, err)
	}
	eventually(t, 40*lease, "killed at the next start", func() bool {
		if ds, err := q.Reclaim(ctx, "w6", killedRunning, 1); err != nil || len(ds) != 0 {
			t.Fatalf("a killed run was started again: %d, %v", len(ds), err)
		}
		return get(t, q, killRunID).State == queue.StateKilled
	})

	// Killed while running, handed back by its stopping worker: the next
	// claim finds the kill.
	releasedID := enqueue(t, q, released, 3)
	d := claim(t, q, "fin-release", released, 1)[0]
	if res, err := q.Kill(ctx, releasedID); err != nil || res != queue.KillSignalled {
		t.Fatalf("kill running: %v %v", res, err)
	}
	if err := q.Release(ctx, d); err != nil {
		t.Fatal(err)
	}
	claim(t, q, "fin-release", released, 0)

	// Taken over by another worker: running again, not finished.
	takenID := enqueue(t, q, taken, 3)
	claim(t, q, "w7", taken, 1)
	eventually(t, 40*lease, "taken over", func() bool { ds, _ := q.Reclaim(ctx, "w8", taken, 1); return len(ds) == 1 })

	fin, err := q.Finished(ctx, 10, dead, orphan, killedRunning, released, taken)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(fin), []string{releasedID, killRunID, orphanID, deadID}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("finished = %v, want %v, newest first (the run taken over, %s, is not finished)", got, want, takenID)
	}
	for _, c := range []struct {
		r      *queue.Run
		state  queue.State
		reason string
	}{
		{fin[3], queue.StateDead, "its workers were lost, last w2"},
		{fin[2], queue.StateKilled, "its worker w4 had lost the lease"},
		{fin[1], queue.StateKilled, "after its worker w5 stopped or lost the lease"},
		{fin[0], queue.StateKilled, "after its worker fin-release stopped or lost the lease"},
	} {
		if c.r.State != c.state || !strings.Contains(c.r.Reason, c.reason) || c.r.FinishedAt.IsZero() {
			t.Errorf("finished run %s: %s (%q) at %v; want %s, a reason naming %q, a finish time", c.r.ID, c.r.State, c.r.Reason, c.r.FinishedAt, c.state, c.reason)
		}
	}
	for _, target := range []string{dead, orphan, killedRunning, released} {
		wantStats(t, q, target, queue.QueueStats{})
	}
	if r := get(t, q, takenID); r.State != queue.StateRunning || r.Worker != "w8" {
		t.Errorf("run taken over: %s on %s", r.State, r.Worker)
	}
}
