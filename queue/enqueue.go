package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Enqueue stores run r and appends it to its target queue. It fills in r.ID
// (when empty), r.State and r.CreatedAt. A non-empty idempotencyKey makes the
// call idempotent: when the key was already used (within the run TTL) nothing
// is enqueued and the id of the first run is returned with dup = true.
// A run with a fresh id costs one round trip, shared with other goroutines'
// Enqueue calls when many are made at once; an explicit id two (its
// pointer is checked first).
func (q *Queue) Enqueue(ctx context.Context, r *Run, idempotencyKey string) (id string, dup bool, err error) {
	explicit := r.ID != ""
	if err := q.prepare(r, idempotencyKey); err != nil {
		return "", false, err
	}
	if explicit {
		return q.enqueueExplicit(ctx, r)
	}
	e, err := q.enqueueCoalesced(ctx, r)
	if err != nil {
		return "", false, err
	}
	return e.ID, e.Dup, e.Err
}

// Enqueued is the outcome of one run of EnqueueMany.
type Enqueued struct {
	ID  string // the run's id, or the first run's id for a duplicate
	Dup bool   // its IdempotencyKey was used already: nothing was enqueued
	Err error
}

// EnqueueMany enqueues runs like Enqueue, all in one round trip, each with
// its own IdempotencyKey field as the idempotency key ("" for none). Runs
// with an id chosen by the caller cost a round trip each, as with Enqueue.
// It returns one Enqueued per run, in order; the error is a failure to reach
// Redis (some runs may have been enqueued).
func (q *Queue) EnqueueMany(ctx context.Context, runs ...*Run) ([]Enqueued, error) {
	out := make([]Enqueued, len(runs))
	var fresh []int
	for i, r := range runs {
		explicit := r.ID != ""
		if err := q.prepare(r, r.IdempotencyKey); err != nil {
			out[i].Err = err
			continue
		}
		if !explicit {
			fresh = append(fresh, i)
			continue
		}
		id, dup, err := q.enqueueExplicit(ctx, r)
		if err != nil && !errors.Is(err, ErrExists) {
			return out, err
		}
		out[i] = Enqueued{ID: id, Dup: dup, Err: err}
	}
	return out, q.enqueueFresh(ctx, runs, fresh, out)
}

// enqueueFresh enqueues the prepared runs[idx] (fresh ids) in one pipeline
// and fills in their out entries.
func (q *Queue) enqueueFresh(ctx context.Context, runs []*Run, idx []int, out []Enqueued) error {
	calls := make([]*scriptCall, 0, len(idx))
	ok := make([]int, 0, len(idx))
	for _, i := range idx {
		c, err := q.enqueueCall(runs[i])
		if err != nil {
			out[i].Err = err
			continue
		}
		calls, ok = append(calls, c), append(ok, i)
	}
	if len(calls) == 0 {
		return nil
	}
	idx = ok
	octx, cancel := q.opEnqueue(ctx)
	defer cancel()
	targets := map[string]bool{}
	pre := func(p redis.Pipeliner) {
		// The pointer id → queue lives in the run's own slot; it is written
		// before the run (on a single server) so that a run is never
		// visible in a queue without it. An orphan pointer (duplicate key)
		// is deleted below, or expires.
		for _, i := range idx {
			p.Set(octx, q.keys.Where(runs[i].ID), runs[i].Target, q.pointerTTL())
			if !targets[runs[i].Target] {
				targets[runs[i].Target] = true
				p.SAdd(octx, q.keys.Queues(), runs[i].Target)
			}
		}
	}
	if err := q.execPipeWait(octx, pre, calls, true); err != nil {
		return fmt.Errorf("enqueue %d runs: %w", len(calls), err)
	}
	var orphans []string
	for k, c := range calls {
		i := idx[k]
		out[i] = q.enqueued(runs[i], c.cmd, true)
		if out[i].Dup {
			orphans = append(orphans, q.keys.Where(runs[i].ID))
		}
	}
	q.deleteKeys(octx, orphans)
	return nil
}

// prepare checks r and sets the fields that Enqueue owns.
func (q *Queue) prepare(r *Run, idempotencyKey string) error {
	if r.ID == "" {
		r.ID = NewID()
	}
	if err := checkName("run id", r.ID); err != nil {
		return fmt.Errorf("enqueue run: %w", err)
	}
	if err := checkQueue(r.Target); err != nil {
		return fmt.Errorf("enqueue run %s: %w", r.ID, err)
	}
	if r.Task == "" {
		return fmt.Errorf("enqueue run %s: task name is empty", r.ID)
	}
	r.State, r.Attempt, r.Deliveries, r.IdempotencyKey = StateQueued, 0, 0, idempotencyKey
	r.CreatedAt = time.Now().Truncate(time.Millisecond)
	return nil
}

// enqueueCall is the enqueue script call of a prepared run.
func (q *Queue) enqueueCall(r *Run) (*scriptCall, error) {
	fields, err := r.fields()
	if err != nil {
		return nil, fmt.Errorf("enqueue run %s: %w", r.ID, err)
	}
	useIdem := "0"
	if r.IdempotencyKey != "" {
		useIdem = "1"
	}
	ttl := q.opt.runTTL.Milliseconds()
	return &scriptCall{script: scriptEnqueue,
		keys: []string{q.keys.Stream(r.Target), q.keys.Run(r.Target, r.ID), q.keys.Idem(r.Target, r.IdempotencyKey)},
		args: append([]any{r.ID, useIdem, ttl, ttl}, fields...)}, nil
}

// enqueued reads the enqueue script's reply; fresh says that r's id was
// generated here, so that a record already under it can only come from a
// repeated execution of this very call.
func (q *Queue) enqueued(r *Run, cmd *redis.Cmd, fresh bool) Enqueued {
	res, err := cmd.StringSlice()
	if err != nil {
		return Enqueued{Err: fmt.Errorf("enqueue run %s to %s: %w", r.ID, r.Target, err)}
	}
	switch {
	case res[0] == "dup" && res[1] == r.ID:
		// A repeated call (go-redis retries a pipeline whose connection
		// broke) found the key that its first execution set: this run.
		return Enqueued{ID: r.ID}
	case res[0] == "dup":
		return Enqueued{ID: res[1], Dup: true}
	case res[0] == "exists" && fresh:
		return Enqueued{ID: r.ID}
	case res[0] == "exists":
		return Enqueued{Err: fmt.Errorf("enqueue run %s to %s: %w", r.ID, r.Target, ErrExists)}
	}
	return Enqueued{ID: r.ID}
}

// deleteKeys deletes keys, best effort (one command each: they may live in
// different slots).
func (q *Queue) deleteKeys(ctx context.Context, keys []string) {
	if len(keys) == 0 {
		return
	}
	p := q.rdb.Pipeline()
	for _, k := range keys {
		p.Del(ctx, k)
	}
	_, _ = p.Exec(ctx)
}

// enqueueExplicit enqueues a run whose id the caller chose: its pointer is
// claimed first, so that an id used in another queue is refused.
func (q *Queue) enqueueExplicit(ctx context.Context, r *Run) (string, bool, error) {
	octx, cancel := q.opEnqueue(ctx)
	defer cancel()
	pipe := q.rdb.Pipeline()
	fresh := pipe.SetNX(octx, q.keys.Where(r.ID), r.Target, q.pointerTTL())
	prev := pipe.Get(octx, q.keys.Where(r.ID))
	pipe.SAdd(octx, q.keys.Queues(), r.Target)
	if _, err := pipe.Exec(octx); err != nil {
		return "", false, fmt.Errorf("enqueue run %s to %s: %w", r.ID, r.Target, err)
	}
	if !fresh.Val() && prev.Val() != r.Target {
		return "", false, fmt.Errorf("enqueue run %s to %s: %w (in %s)", r.ID, r.Target, ErrExists, prev.Val())
	}
	c, err := q.enqueueCall(r)
	if err != nil {
		return "", false, err
	}
	if err := q.execPipeWait(octx, nil, []*scriptCall{c}, true); err != nil {
		return "", false, fmt.Errorf("enqueue run %s to %s: %w", r.ID, r.Target, err)
	}
	e := q.enqueued(r, c.cmd, false)
	if e.Dup && fresh.Val() && e.ID != r.ID {
		q.deleteKeys(octx, []string{q.keys.Where(r.ID)})
	}
	return e.ID, e.Dup, e.Err
}
