package dispatch

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/celeroot/celeroot/queue"
)

// Enqueuer is the part of the queue Enqueue needs.
type Enqueuer interface {
	EnqueueMany(ctx context.Context, runs ...*queue.Run) ([]queue.Enqueued, error)
}

// BatchSize is the default number of runs per EnqueueMany call (one round
// trip each).
const BatchSize = 500

// BatchOptions tune Enqueue. The zero value enqueues one batch at a time,
// once each, and stops at the first batch that fails.
type BatchOptions struct {
	Size int // runs per batch (default BatchSize)
	// Slots, when set, bounds the batches in flight (several at a time,
	// shared with other callers holding the same channel); without it
	// batches go one after another and the first failed batch stops the rest.
	Slots chan struct{}
	// Attempts per batch on a Redis error (default 1); the pause between
	// attempts grows by 100ms. Only safe for runs with idempotency keys.
	Attempts int
}

// Outcome is what became of one run.
type Outcome struct {
	queue.Enqueued
	// Batch is true when Err is its batch's (a Redis error, or a batch not
	// tried after an earlier one failed): trying again later may work.
	Batch bool
}

// Enqueue enqueues runs in batches and returns one outcome per run, in
// order. Runs that were enqueued have their ID (and State) set by the queue.
func Enqueue(ctx context.Context, q Enqueuer, runs []*queue.Run, o BatchOptions) []Outcome {
	size, attempts := o.Size, o.Attempts
	if size <= 0 {
		size = BatchSize
	}
	if attempts <= 0 {
		attempts = 1
	}
	out := make([]Outcome, len(runs))
	var wg sync.WaitGroup
	var failed error
	for start := 0; start < len(runs); start += size {
		end := min(start+size, len(runs))
		if o.Slots == nil {
			if failed == nil {
				failed = batch(ctx, q, runs[start:end], out[start:end], attempts)
			} else {
				fill(out[start:end], failed)
			}
			continue
		}
		o.Slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-o.Slots }()
			batch(ctx, q, runs[start:end], out[start:end], attempts)
		})
	}
	wg.Wait()
	return out
}

// batch is one EnqueueMany call, retried on Redis errors; it returns the
// batch's error.
func batch(ctx context.Context, q Enqueuer, runs []*queue.Run, out []Outcome, attempts int) error {
	var res []queue.Enqueued
	var err error
	for attempt := range attempts {
		if res, err = q.EnqueueMany(ctx, runs...); err == nil {
			break
		}
		if attempt+1 < attempts && !queue.Sleep(ctx, time.Duration(attempt+1)*100*time.Millisecond) {
			break
		}
	}
	if err != nil {
		err = fmt.Errorf("enqueue %d runs: %w", len(runs), err)
		fill(out, err)
		return err
	}
	for k := range out {
		if k < len(res) {
			out[k] = Outcome{Enqueued: res[k]}
		} else {
			out[k] = Outcome{Enqueued: queue.Enqueued{Err: fmt.Errorf("no outcome for run %d of the batch", k)}}
		}
	}
	return nil
}

func fill(out []Outcome, err error) {
	for k := range out {
		out[k] = Outcome{Enqueued: queue.Enqueued{Err: err}, Batch: true}
	}
}

// EnqueueSubmissions enqueues planned submissions one batch at a time and
// returns those enqueued (ID and State set), in order, and the first error:
// a failed batch's, else the first run's own.
func EnqueueSubmissions(ctx context.Context, q Enqueuer, subs []*Submission) ([]*Submission, error) {
	runs := make([]*queue.Run, len(subs))
	for i, s := range subs {
		runs[i] = s.Run()
	}
	var done []*Submission
	var batchErr, first error
	for i, o := range Enqueue(ctx, q, runs, BatchOptions{}) {
		s := subs[i]
		switch {
		case o.Err == nil:
			s.ID, s.State = o.ID, runs[i].State
			done = append(done, s)
		case o.Batch:
			batchErr = cmpOr(batchErr, o.Err)
		default:
			first = cmpOr(first, fmt.Errorf("enqueue task %s for %s: %w", s.Task, s.Label(), o.Err))
		}
	}
	return done, cmpOr(batchErr, first)
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
