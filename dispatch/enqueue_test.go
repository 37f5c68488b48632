package dispatch_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/celeroot/celeroot/dispatch"
	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/queue/queuetest"
)

// flaky fails the calls whose number (from 1) is in fail, with a Redis-like
// error; other calls give each run an id. A real Redis cannot be made to
// fail one call of several on cue.
type flaky struct {
	mu    sync.Mutex
	calls int
	fail  map[int]bool
	sizes []int
}

func (f *flaky) EnqueueMany(_ context.Context, runs ...*queue.Run) ([]queue.Enqueued, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.sizes = append(f.sizes, len(runs))
	if f.fail[f.calls] {
		return nil, errors.New("connection reset")
	}
	out := make([]queue.Enqueued, len(runs))
	for i, r := range runs {
		out[i].ID = r.Task
	}
	return out, nil
}

func runs(n int) []*queue.Run {
	out := make([]*queue.Run, n)
	for i := range out {
		out[i] = &queue.Run{Task: fmt.Sprint(i), Target: queue.HostQueue(fmt.Sprint("h", i))}
	}
	return out
}

func TestEnqueueSequentialStopsAtAFailedBatch(t *testing.T) {
	f := &flaky{fail: map[int]bool{2: true}}
	out := dispatch.Enqueue(context.Background(), f, runs(5), dispatch.BatchOptions{Size: 2})
	if f.calls != 2 {
		t.Fatalf("%d calls, want 2 (the third batch is not tried after the second failed)", f.calls)
	}
	for i, o := range out {
		ok := i < 2
		if ok != (o.Err == nil) || ok && o.ID != fmt.Sprint(i) || !ok && (!o.Batch || !strings.Contains(o.Err.Error(), "enqueue 2 runs: connection reset")) {
			t.Errorf("outcome %d: %+v", i, o)
		}
	}
}

func TestEnqueueSlotsAndAttempts(t *testing.T) {
	f := &flaky{fail: map[int]bool{1: true}}
	slots := make(chan struct{}, 2)
	out := dispatch.Enqueue(context.Background(), f, runs(5), dispatch.BatchOptions{Size: 2, Slots: slots, Attempts: 2})
	if f.calls != 4 {
		t.Fatalf("%d calls, want 4 (3 batches, the first failed once and was retried)", f.calls)
	}
	for i, o := range out {
		if o.Err != nil || o.ID != fmt.Sprint(i) {
			t.Errorf("outcome %d: %+v", i, o)
		}
	}
}

// With a real Redis: ids, states and per-run duplicates come back in order.
func TestEnqueueSubmissions(t *testing.T) {
	srv := queuetest.StartRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	q, err := queue.Open(ctx, srv.URL(), queue.Namespace{Cluster: "t"})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	var subs []*dispatch.Submission
	for i := range dispatch.BatchSize + 3 {
		h := fmt.Sprint("h", i)
		subs = append(subs, &dispatch.Submission{Task: "ping", Module: "builtin", Host: h, Queue: queue.HostQueue(h), Timeout: time.Minute})
	}
	done, err := dispatch.EnqueueSubmissions(ctx, q, subs)
	if err != nil || len(done) != len(subs) {
		t.Fatalf("enqueued %d of %d: %v", len(done), len(subs), err)
	}
	for _, s := range []*dispatch.Submission{subs[0], subs[len(subs)-1]} {
		r, err := q.Get(ctx, s.ID)
		if err != nil || s.State != queue.StateQueued || r.Target != s.Queue || r.Task != "ping" {
			t.Fatalf("run %s: %+v %v (submission %+v)", s.ID, r, err, s)
		}
	}
}
