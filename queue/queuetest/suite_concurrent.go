package queuetest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/celeroot/celeroot/queue"
)

// testConcurrentEnqueue: Enqueue calls from many goroutines at once each get their own run, in the right queue, exactly
// once; concurrent calls with one idempotency key create a single run.
func testConcurrentEnqueue(t *testing.T, newQueue NewQueue) {
	q := newQueue(t)
	ctx := ctxT(t)
	const goroutines, each = 32, 25
	targets := []string{queue.HostQueue("c1"), queue.HostQueue("c2"), queue.RoleQueue("cr")}
	ids := make([][]string, goroutines)
	errs := make(chan error, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				target := targets[(g+i)%len(targets)]
				id, dup, err := q.Enqueue(ctx, &queue.Run{Task: "ping", Target: target,
					Params: map[string]any{"g": g, "i": i}}, "")
				if err != nil || dup {
					errs <- fmt.Errorf("enqueue %d/%d: dup=%v err=%v", g, i, dup, err)
					return
				}
				ids[g] = append(ids[g], id)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for g := range goroutines {
		for i, id := range ids[g] {
			if seen[id] {
				t.Fatalf("id %s returned twice", id)
			}
			seen[id] = true
			r := get(t, q, id)
			want := targets[(g+i)%len(targets)]
			if r.Target != want || r.State != queue.StateQueued || fmt.Sprint(r.Params["g"], "/", r.Params["i"]) != fmt.Sprint(g, "/", i) {
				t.Fatalf("run %s: target %s state %s params %v; want %s queued g=%d i=%d", id, r.Target, r.State, r.Params, want, g, i)
			}
		}
	}
	for i, target := range targets {
		n := 0
		for g := range goroutines {
			for k := range each {
				if (g+k)%len(targets) == i {
					n++
				}
			}
		}
		wantStats(t, q, target, queue.QueueStats{Waiting: int64(n)})
	}

	// One idempotency key from 16 goroutines at once: one run, 15 duplicates
	// naming it.
	target := queue.HostQueue("idem")
	type res struct {
		id  string
		dup bool
		err error
	}
	out := make(chan res, 16)
	for range 16 {
		wg.Go(func() {
			id, dup, err := q.Enqueue(ctx, &queue.Run{Task: "backup", Target: target}, "sched:backup:42")
			out <- res{id, dup, err}
		})
	}
	wg.Wait()
	close(out)
	first, dups := "", 0
	for r := range out {
		if r.err != nil {
			t.Fatalf("idempotent enqueue: %v", r.err)
		}
		if first == "" {
			first = r.id
		}
		if r.id != first {
			t.Fatalf("idempotent enqueue returned %s and %s", first, r.id)
		}
		if r.dup {
			dups++
		}
	}
	if dups != 15 {
		t.Fatalf("%d duplicates, want 15", dups)
	}
	wantStats(t, q, target, queue.QueueStats{Waiting: 1})
}
