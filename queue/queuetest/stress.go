package queuetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/celeroot/celeroot/queue"
)

// testStress: 1,000 runs on one role queue, 4 consumers at a time; consumers
// crash at random (abandoning what they claimed) and are replaced, and half
// of the crashed ones come back as zombies that try to complete their runs
// late. Every run must succeed exactly once: none lost, none twice.
func testStress(t *testing.T, newQueue NewQueue) {
	const runs, consumers, crashP = 1000, 4, 0.01
	lease := 150 * time.Millisecond
	q := newQueue(t, queue.WithLeaseTTL(lease), queue.WithMaxDeliveries(1000))
	target := queue.RoleQueue("stress")
	ctx, cancel := context.WithTimeout(ctxT(t), 45*time.Second)
	defer cancel()

	ids := make(map[string]bool, runs)
	for range runs {
		ids[enqueue(t, q, target, 0)] = true
	}

	var (
		mu        sync.Mutex
		succeeded = map[string]int{}
		allDone   = make(chan struct{})
		workers   sync.WaitGroup
		zombies   sync.WaitGroup
		seq       atomic.Int64
		crashes   atomic.Int64
		zombieOK  atomic.Int64
		execs     atomic.Int64
	)
	record := func(r *queue.Run, by string) {
		if r.State != queue.StateSucceeded {
			t.Errorf("run %s completed as %s (%s) by %s", r.ID, r.State, r.Reason, by)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		succeeded[r.ID]++
		if succeeded[r.ID] > 1 {
			t.Errorf("run %s succeeded %d times", r.ID, succeeded[r.ID])
		}
		if len(succeeded) == runs && succeeded[r.ID] == 1 {
			close(allDone)
		}
	}
	var spawn func()
	worker := func(name string) {
		rng := rand.New(rand.NewPCG(uint64(seq.Load()), uint64(time.Now().UnixNano())))
		var lastReclaim time.Time
		for ctx.Err() == nil {
			ds, err := q.Claim(ctx, name, []string{target}, 4, 20*time.Millisecond)
			if err != nil && ctx.Err() == nil {
				t.Errorf("claim as %s: %v", name, err)
				return
			}
			if time.Since(lastReclaim) > lease/3 {
				more, err := q.Reclaim(ctx, name, target, 4)
				if err != nil && ctx.Err() == nil {
					t.Errorf("reclaim as %s: %v", name, err)
					return
				}
				ds, lastReclaim = append(ds, more...), time.Now()
			}
			for _, d := range ds {
				execs.Add(1)
				if rng.Float64() < crashP { // crash: abandon this and the rest
					crashes.Add(1)
					if rng.IntN(2) == 0 {
						zombies.Go(func() { // a paused process that wakes up late
							time.Sleep(time.Duration(1+rng.IntN(3)) * lease)
							r, err := q.Complete(context.Background(), d, queue.Result{})
							switch {
							case err == nil:
								zombieOK.Add(1)
								record(r, name+" (zombie)")
							case !errors.Is(err, queue.ErrLeaseLost):
								t.Errorf("zombie complete: %v", err)
							}
						})
					}
					spawn()
					return
				}
				r, err := q.Complete(ctx, d, queue.Result{})
				switch {
				case err == nil:
					record(r, name)
				case errors.Is(err, queue.ErrLeaseLost) || ctx.Err() != nil:
				default:
					t.Errorf("complete as %s: %v", name, err)
				}
			}
		}
	}
	spawn = func() {
		name := fmt.Sprintf("w%d", seq.Add(1))
		workers.Go(func() { worker(name) })
	}
	for range consumers {
		spawn()
	}
	select {
	case <-allDone:
	case <-ctx.Done():
	}
	cancel()
	workers.Wait()
	zombies.Wait()

	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d runs, %d executions, %d crashes, %d consumers, %d late zombie completions accepted",
		runs, execs.Load(), crashes.Load(), seq.Load(), zombieOK.Load())
	if len(succeeded) != runs {
		t.Fatalf("%d of %d runs succeeded", len(succeeded), runs)
	}
	for id := range ids {
		if succeeded[id] != 1 {
			t.Errorf("run %s succeeded %d times", id, succeeded[id])
		}
	}
	for id := range ids {
		if r := get(t, q, id); r.State != queue.StateSucceeded {
			t.Fatalf("run %s stored as %s", id, r.State)
		}
		break // spot check; the counts above are the proof
	}
	wantStats(t, q, target, queue.QueueStats{})
}
