package queuetest

import (
	"errors"
	"fmt"
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
