package queue

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Completer records results in batches (group commit). A result waits up to
// the Completer's hold for company, then goes with the others that arrived
// meanwhile in one CompleteAll round trip; while a batch is being written,
// new results queue up for the next. A worker's claims can take the waiting
// results along in the round trip that starts new runs (ClaimNow and
// ClaimWait with the Completer): a worker that runs short tasks one or two
// at a time then pays two round trips per claim instead of three. A batch
// that cannot reach Redis is repeated with backoff until the Completer's
// context ends; the runs stay in flight meanwhile, and their worker must go
// on renewing their leases.
type Completer struct {
	q        *Queue
	ctx      context.Context
	maxBatch int
	hold     time.Duration

	mu      sync.Mutex
	pending []*completing
	closed  bool

	wake chan struct{} // a result is waiting (capacity 1)
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

type completing struct {
	c     Completion
	reply chan completed
}

type completed struct {
	rec Recorded
	err error
}

// ErrCompleterClosed: the Completer was closed, or its context ended,
// before the result was recorded. The run stays pending on its queue.
var ErrCompleterClosed = errors.New("completer closed: result not recorded")

// NewCompleter starts a Completer that writes up to maxBatch results per
// round trip (default 256), holds a result up to hold for others to join
// it (or a claim to take it along), and retries failed writes until ctx
// ends. Close stops it.
func (q *Queue) NewCompleter(ctx context.Context, maxBatch int, hold time.Duration) *Completer {
	if maxBatch <= 0 {
		maxBatch = 256
	}
	c := &Completer{q: q, ctx: ctx, maxBatch: maxBatch, hold: hold,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go c.loop()
	return c
}

// Complete queues d's result for the next batch and waits until it is
// recorded. It returns what was stored, an error wrapping ErrLeaseLost when
// the delivery no longer held the run, ErrCompleterClosed, or ctx's error
// (the result may still be recorded then).
func (c *Completer) Complete(ctx context.Context, d *Delivery, res Result) (Recorded, error) {
	x := &completing{c: Completion{Delivery: d, Result: res}, reply: make(chan completed, 1)}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return Recorded{}, ErrCompleterClosed
	}
	c.pending = append(c.pending, x)
	c.mu.Unlock()
	c.signal()
	select {
	case r := <-x.reply:
		return r.rec, r.err
	case <-ctx.Done():
		return Recorded{}, ctx.Err()
	}
}

// Waiting returns how many results wait to be written.
func (c *Completer) Waiting() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending)
}

func (c *Completer) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Close stops the Completer after the batch being written; results still
// queued get ErrCompleterClosed.
func (c *Completer) Close() {
	c.once.Do(func() { close(c.stop) })
	<-c.done
	c.mu.Lock()
	c.closed = true
	left := c.pending
	c.pending = nil
	c.mu.Unlock()
	for _, x := range left {
		x.reply <- completed{err: ErrCompleterClosed}
	}
}

// takeBatch removes up to a batch of waiting results (none from a nil
// Completer).
func (c *Completer) takeBatch() []*completing {
	if c == nil {
		return nil
	}
	return c.take(c.maxBatch)
}

// take removes up to max waiting results.
func (c *Completer) take(max int) []*completing {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := min(len(c.pending), max)
	if n == 0 {
		return nil
	}
	out := append([]*completing(nil), c.pending[:n]...)
	c.pending = append(c.pending[:0], c.pending[n:]...)
	return out
}

// putBack returns results that a claim took but could not write.
func (c *Completer) putBack(xs []*completing) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		for _, x := range xs {
			x.reply <- completed{err: ErrCompleterClosed}
		}
		return
	}
	c.pending = append(xs, c.pending...)
	c.mu.Unlock()
	c.signal()
}

// deliver answers the callers of xs with what was recorded.
func deliver(xs []*completing, recs []Recorded) {
	for i, x := range xs {
		x.reply <- completed{rec: recs[i], err: recs[i].Err}
	}
}

func completions(xs []*completing) []Completion {
	cs := make([]Completion, len(xs))
	for i, x := range xs {
		cs[i] = x.c
	}
	return cs
}

func (c *Completer) loop() {
	defer close(c.done)
	for {
		select {
		case <-c.wake:
		case <-c.stop:
			return
		}
		if c.hold > 0 {
			t := time.NewTimer(c.hold)
			select {
			case <-t.C:
			case <-c.stop:
				t.Stop()
				return
			}
		}
		for {
			batch := c.take(c.maxBatch)
			if len(batch) == 0 {
				break
			}
			if !c.flush(batch) {
				return
			}
		}
	}
}

// flush writes one batch, repeating it after connection failures; false
// when it gave up because the Completer stopped.
func (c *Completer) flush(batch []*completing) bool {
	cs := completions(batch)
	ctx := context.WithoutCancel(c.ctx)
	b := Backoff{}
	recs, err := c.q.CompleteAll(ctx, cs)
	for err != nil {
		c.q.log.Error("complete runs", "runs", len(cs), "err", err)
		if !b.SleepOr(c.ctx, c.stop) {
			for _, x := range batch {
				x.reply <- completed{err: errors.Join(ErrCompleterClosed, err)}
			}
			return false
		}
		recs, err = c.q.CompleteAll(ctx, cs)
	}
	deliver(batch, recs)
	return true
}
