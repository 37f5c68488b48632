package queue

import (
	"context"
	"errors"
	"sync"
)

// Completer records results in batches (group commit): while one batch is
// being written, the results that arrive meanwhile queue up and go together
// in the next CompleteAll round trip, so a busy worker pays one round trip
// for many runs and an idle one waits for none. A batch that cannot reach
// Redis is repeated with backoff until the Completer's
// context ends; the runs stay in flight meanwhile, and their worker must go
// on renewing their leases.
type Completer struct {
	q        *Queue
	ctx      context.Context
	in       chan *completing
	maxBatch int
	stop     chan struct{}
	done     chan struct{}
	once     sync.Once
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
// round trip (default 256) and retries failed writes until ctx ends. Close
// stops it.
func (q *Queue) NewCompleter(ctx context.Context, maxBatch int) *Completer {
	if maxBatch <= 0 {
		maxBatch = 256
	}
	c := &Completer{q: q, ctx: ctx, in: make(chan *completing, maxBatch), maxBatch: maxBatch,
		stop: make(chan struct{}), done: make(chan struct{})}
	go c.loop()
	return c
}

// Complete queues d's result for the next batch and waits until it is
// recorded. It returns what was stored, an error wrapping ErrLeaseLost when
// the delivery no longer held the run, ErrCompleterClosed, or ctx's error
// (the result may still be recorded then).
func (c *Completer) Complete(ctx context.Context, d *Delivery, res Result) (Recorded, error) {
	x := &completing{c: Completion{Delivery: d, Result: res}, reply: make(chan completed, 1)}
	select {
	case <-c.stop:
		return Recorded{}, ErrCompleterClosed
	default:
	}
	select {
	case c.in <- x:
	case <-c.stop:
		return Recorded{}, ErrCompleterClosed
	case <-ctx.Done():
		return Recorded{}, ctx.Err()
	}
	select {
	case r := <-x.reply:
		return r.rec, r.err
	case <-c.done: // stopped: it replied before, or never will
		select {
		case r := <-x.reply:
			return r.rec, r.err
		default:
			return Recorded{}, ErrCompleterClosed
		}
	case <-ctx.Done():
		return Recorded{}, ctx.Err()
	}
}

// Close stops the Completer after the batch being written; results still
// queued get ErrCompleterClosed.
func (c *Completer) Close() {
	c.once.Do(func() { close(c.stop) })
	<-c.done
	for {
		select {
		case x := <-c.in:
			x.reply <- completed{err: ErrCompleterClosed}
		default:
			return
		}
	}
}

func (c *Completer) loop() {
	defer close(c.done)
	for {
		var batch []*completing
		select {
		case x := <-c.in:
			batch = append(batch, x)
		case <-c.stop:
			return
		}
	more:
		for len(batch) < c.maxBatch {
			select {
			case x := <-c.in:
				batch = append(batch, x)
			default:
				break more
			}
		}
		c.flush(batch)
	}
}

// flush writes one batch, repeating it after connection failures.
func (c *Completer) flush(batch []*completing) {
	cs := make([]Completion, len(batch))
	for i, x := range batch {
		cs[i] = x.c
	}
	ctx := context.WithoutCancel(c.ctx)
	b := Backoff{}
	recs, err := c.q.CompleteAll(ctx, cs)
	for err != nil {
		c.q.log.Error("complete runs", "runs", len(cs), "err", err)
		if !b.SleepOr(c.ctx, c.stop) {
			for _, x := range batch {
				x.reply <- completed{err: errors.Join(ErrCompleterClosed, err)}
			}
			return
		}
		recs, err = c.q.CompleteAll(ctx, cs)
	}
	for i, x := range batch {
		x.reply <- completed{rec: recs[i], err: recs[i].Err}
	}
}
