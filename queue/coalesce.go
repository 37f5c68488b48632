package queue

import (
	"context"
	"sync"
)

const (
	// maxInflight is how many enqueue pipelines one Queue keeps on the wire
	// at once before further Enqueue calls wait to share the next one.
	maxInflight = 4
	// maxCoalesced bounds the runs one shared pipeline enqueues.
	maxCoalesced = 500
)

// coalescer merges concurrent Enqueue calls into shared round trips (group
// commit): up to maxInflight calls go out at once, each in its own
// pipeline, as without it; calls that arrive while all of those are on the
// wire wait, and the first of them sends them all in one pipeline when one
// returns. One or a few callers pay one round trip per run, as before; many
// goroutines enqueueing at once (request handlers, the scheduler's fan-out)
// pay one per batch, and Redis, whose cost here is mostly the network round
// trip rather than the command, does a fraction of the work.
type coalescer struct {
	mu       sync.Mutex
	inflight int
	forming  []*coalesced
}

// coalesced is one Enqueue call.
type coalesced struct {
	run  *Run
	out  Enqueued
	err  error // failure to reach Redis
	done chan struct{}
	lead []*coalesced // set when this call is to send these (itself first)
}

// enqueueCoalesced enqueues the prepared fresh run r, sharing a round trip
// with concurrent calls when enough of them are on the wire already.
func (q *Queue) enqueueCoalesced(ctx context.Context, r *Run) (Enqueued, error) {
	me := &coalesced{run: r}
	c := &q.coalesce
	c.mu.Lock()
	if c.inflight < maxInflight {
		c.inflight++
		c.mu.Unlock()
		q.sendCoalesced(ctx, []*coalesced{me})
		return me.out, me.err
	}
	me.done = make(chan struct{})
	c.forming = append(c.forming, me)
	c.mu.Unlock()
	select {
	case <-me.done:
	case <-ctx.Done():
		// Still in a batch: the run may yet be enqueued, as with any call
		// whose context ends during its round trip.
		return Enqueued{}, ctx.Err()
	}
	if me.lead != nil {
		q.sendCoalesced(ctx, me.lead)
	}
	return me.out, me.err
}

// sendCoalesced enqueues batch (its leader first) in one pipeline and wakes
// its other callers; then it hands its place on the wire to the calls that
// arrived meanwhile, or gives it up.
func (q *Queue) sendCoalesced(ctx context.Context, batch []*coalesced) {
	runs := make([]*Run, len(batch))
	idx := make([]int, len(batch))
	for i, b := range batch {
		runs[i], idx[i] = b.run, i
	}
	out := make([]Enqueued, len(batch))
	// Not the leader's cancellation: the others' runs ride on this call.
	err := q.enqueueFresh(context.WithoutCancel(ctx), runs, idx, out)
	for i, b := range batch {
		b.out, b.err = out[i], err
		if i > 0 {
			close(b.done)
		}
	}
	c := &q.coalesce
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.forming) == 0 {
		c.inflight--
		return
	}
	n := min(len(c.forming), maxCoalesced)
	next := c.forming[:n:n]
	c.forming = append([]*coalesced(nil), c.forming[n:]...)
	next[0].lead = next
	close(next[0].done)
}
