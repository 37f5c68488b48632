package queue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Handler runs one task and reports how it ended. Its ctx is cancelled when
// the run is killed, when the worker lost the run's lease, and when Consume
// stops (after the drain time). Writing the run's output is the handler's
// business (see LogWriter).
type Handler func(ctx context.Context, d *Delivery) Result

// ConsumerConfig configures Consume.
type ConsumerConfig struct {
	Host  string   // the consumer name and the host queue served (required)
	Roles []string // role queues also served
	Slots int      // runs at a time; default 1
	// Block is how long one read of a queue waits for work; default 5s.
	// Each queue has its own reader, which holds a free slot while it
	// waits, so no run is claimed without a slot to run it. With fewer
	// slots than queues the readers take turns, and Block is capped at 1s
	// so that no queue waits long for its turn.
	Block time.Duration
	// Drain is how long in-flight runs may go on once ctx is cancelled before
	// their contexts are cancelled too. Runs still going then are handed
	// back (Release): queued again for the next claim. Default 0.
	Drain time.Duration
	// Heartbeat, when set, gives the static fields of the worker's heartbeat
	// (role, SHA, PID, version, start time); Consume fills in the rest and
	// sends one every third of the heartbeat TTL.
	Heartbeat func() Heartbeat
}

var (
	errKilled   = errors.New("run killed")
	errShutdown = errors.New("worker shutting down")
)

// Consume serves the host queue of cfg.Host and the queues of cfg.Roles
// until ctx is cancelled: it replays the runs this host had claimed before a
// restart, claims new runs (one reader per queue), reclaims runs of dead
// workers whose lease expired, renews the leases of its in-flight runs, reads
// its control stream for kills, sends heartbeats, and completes each run with
// the handler's result. Redis errors are logged and retried with backoff, so
// Consume keeps going across a Redis restart. It returns nil after ctx is
// cancelled and the in-flight runs are drained.
func (q *Queue) Consume(ctx context.Context, cfg ConsumerConfig, h Handler) error {
	if err := checkName("host", cfg.Host); err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	if cfg.Slots < 1 {
		cfg.Slots = 1
	}
	if cfg.Block <= 0 {
		cfg.Block = 5 * time.Second
	}
	queues := []string{HostQueue(cfg.Host)}
	for _, r := range cfg.Roles {
		queues = append(queues, RoleQueue(r))
	}
	if cfg.Slots < len(queues) {
		cfg.Block = min(cfg.Block, time.Second)
	}
	for _, qu := range queues {
		if err := checkQueue(qu); err != nil {
			return fmt.Errorf("consume: %w", err)
		}
	}
	base, stopHandlers := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stopHandlers(nil)
	renewCtx, stopRenew := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRenew()
	c := &consumer{q: q, cfg: cfg, h: h, queues: queues, base: base,
		sem: make(chan struct{}, cfg.Slots), inflight: map[string]*flight{}, started: time.Now()}

	var loops, renew sync.WaitGroup
	renew.Go(func() { c.renewLoop(renewCtx, ctx) })
	c.retry(ctx, "create queues", func() error { return q.EnsureQueues(ctx, queues...) })
	for _, qu := range queues {
		// Once only: a second replay would take over the runs just started.
		// What a failed replay leaves is reclaimed when its lease expires.
		ds, err := q.Replay(ctx, cfg.Host, qu)
		if err != nil {
			q.log.Error("replay", "queue", qu, "err", err)
		}
		for _, d := range ds {
			c.run(d, c.tryAcquire())
		}
	}
	for _, qu := range queues {
		loops.Go(func() { c.claimLoop(ctx, qu) })
	}
	loops.Go(func() { c.controlLoop(ctx) })
	loops.Wait()

	done := make(chan struct{})
	go func() { c.wg.Wait(); close(done) }()
	if cfg.Drain > 0 {
		select {
		case <-done:
		case <-time.After(cfg.Drain):
		}
	}
	stopHandlers(errShutdown)
	<-done
	stopRenew()
	renew.Wait()
	return nil
}

type consumer struct {
	q       *Queue
	cfg     ConsumerConfig
	h       Handler
	queues  []string
	base    context.Context // parent of handler contexts
	sem     chan struct{}
	started time.Time

	mu                sync.Mutex
	inflight          map[string]*flight
	wg                sync.WaitGroup
	processed, failed atomic.Int64
}

type flight struct {
	d      *Delivery
	cancel context.CancelCauseFunc
}

func (c *consumer) tryAcquire() bool {
	select {
	case c.sem <- struct{}{}:
		return true
	default:
		return false
	}
}

// run starts the handler of d; owned says whether d holds a slot.
func (c *consumer) run(d *Delivery, owned bool) {
	hctx, cancel := context.WithCancelCause(c.base)
	c.mu.Lock()
	c.inflight[d.Run.ID] = &flight{d: d, cancel: cancel}
	c.mu.Unlock()
	c.wg.Go(func() {
		defer func() {
			cancel(nil)
			c.mu.Lock()
			delete(c.inflight, d.Run.ID)
			c.mu.Unlock()
			if owned {
				<-c.sem
			}
		}()
		res := c.call(hctx, d)
		switch cause := context.Cause(hctx); {
		case errors.Is(cause, ErrLeaseLost):
			c.q.log.Warn("run abandoned", "run", d.Run.ID, "queue", d.Queue, "why", cause)
			return
		case errors.Is(cause, errShutdown):
			c.release(d)
			return
		case errors.Is(cause, errKilled):
			if st, _ := res.outcome(); st != StateSucceeded {
				res.Killed = true
			}
		}
		c.complete(d, res)
	})
}

func (c *consumer) call(ctx context.Context, d *Delivery) (res Result) {
	defer func() {
		if p := recover(); p != nil {
			res = Result{ExitCode: -1, Err: fmt.Errorf("task %s panicked: %v", d.Run.Task, p)}
		}
	}()
	return c.h(ctx, d)
}

// release hands a run stopped by the shutdown back to its queue; if that
// fails it stays pending and is replayed or reclaimed.
func (c *consumer) release(d *Delivery) {
	err := c.q.Release(context.WithoutCancel(c.base), d)
	c.q.log.Warn("run handed back", "run", d.Run.ID, "queue", d.Queue, "err", err)
}

// complete reports a result, retrying Redis errors while the consumer lives;
// the run stays in flight meanwhile so its lease keeps being renewed.
func (c *consumer) complete(d *Delivery, res Result) {
	ctx := context.WithoutCancel(c.base)
	b := backoff{}
	for {
		r, err := c.q.Complete(ctx, d, res)
		if err == nil {
			c.processed.Add(1)
			if !r.State.Successful() {
				c.failed.Add(1)
			}
			return
		}
		if errors.Is(err, ErrLeaseLost) {
			c.q.log.Warn("result dropped: lease lost", "run", d.Run.ID, "err", err)
			return
		}
		c.q.log.Error("complete run", "run", d.Run.ID, "err", err)
		if !b.sleep(c.base) {
			return
		}
	}
}

func (c *consumer) claimLoop(ctx context.Context, queue string) {
	b := backoff{}
	for {
		select {
		case c.sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		ds, err := c.q.Claim(ctx, c.cfg.Host, []string{queue}, 1, c.cfg.Block)
		if err != nil || len(ds) == 0 {
			<-c.sem
			if err != nil && ctx.Err() == nil {
				c.q.log.Error("claim", "queue", queue, "err", err)
				if !b.sleep(ctx) {
					return
				}
			}
			if ctx.Err() != nil {
				return
			}
			continue
		}
		b = backoff{}
		c.run(ds[0], true)
	}
}

func (c *consumer) controlLoop(ctx context.Context) {
	b := backoff{}
	for ctx.Err() == nil {
		msgs, err := c.q.ReadControl(ctx, c.cfg.Host, c.cfg.Block)
		if err != nil {
			if ctx.Err() == nil {
				c.q.log.Error("read control stream", "host", c.cfg.Host, "err", err)
				b.sleep(ctx)
			}
			continue
		}
		b = backoff{}
		for _, m := range msgs {
			if m.Op == "kill" {
				c.cancel(m.Run, errKilled)
			}
		}
		if err := c.q.AckControl(ctx, c.cfg.Host, msgs...); err != nil {
			c.q.log.Error("ack control messages", "host", c.cfg.Host, "err", err)
		}
	}
}

func (c *consumer) cancel(runID string, cause error) {
	c.mu.Lock()
	f := c.inflight[runID]
	c.mu.Unlock()
	if f != nil {
		c.q.log.Info("stopping run", "run", runID, "why", cause)
		f.cancel(cause)
	}
}

// renewLoop renews leases and sends heartbeats until ctx ends; while work is
// still open (claimCtx) it also reclaims expired runs into free slots.
func (c *consumer) renewLoop(ctx, claimCtx context.Context) {
	renew := time.NewTicker(c.q.opt.leaseTTL / 3)
	defer renew.Stop()
	beat := time.NewTicker(c.q.opt.heartbeatTTL / 3)
	defer beat.Stop()
	c.heartbeat(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-beat.C:
			c.heartbeat(ctx)
		case <-renew.C:
			c.mu.Lock()
			ds := make([]*Delivery, 0, len(c.inflight))
			for _, f := range c.inflight {
				ds = append(ds, f.d)
			}
			c.mu.Unlock()
			lost, killed, err := c.q.Renew(ctx, ds...)
			if err != nil {
				c.q.log.Error("renew leases", "runs", len(ds), "err", err)
			}
			for _, d := range lost {
				c.cancel(d.Run.ID, ErrLeaseLost)
			}
			for _, d := range killed {
				c.cancel(d.Run.ID, errKilled)
			}
			if claimCtx.Err() == nil {
				c.reclaim(claimCtx)
			}
		}
	}
}

func (c *consumer) reclaim(ctx context.Context) {
	for _, qu := range c.queues {
		free := 0
		for c.tryAcquire() {
			free++
		}
		if free == 0 {
			return
		}
		ds, err := c.q.Reclaim(ctx, c.cfg.Host, qu, free)
		if err != nil {
			c.q.log.Error("reclaim", "queue", qu, "err", err)
		}
		for _, d := range ds {
			c.run(d, true)
		}
		for range free - len(ds) {
			<-c.sem
		}
	}
}

func (c *consumer) heartbeat(ctx context.Context) {
	var hb Heartbeat
	if c.cfg.Heartbeat != nil {
		hb = c.cfg.Heartbeat()
	}
	c.mu.Lock()
	busy := len(c.inflight)
	c.mu.Unlock()
	hb.Host, hb.SlotsBusy, hb.Slots, hb.Time = c.cfg.Host, busy, c.cfg.Slots, time.Now()
	hb.Processed, hb.Failed = c.processed.Load(), c.failed.Load()
	if hb.Started.IsZero() {
		hb.Started = c.started
	}
	if err := c.q.Heartbeat(ctx, hb); err != nil && ctx.Err() == nil {
		c.q.log.Error("heartbeat", "host", c.cfg.Host, "err", err)
	}
}

// retry calls f until it succeeds or ctx ends, with backoff.
func (c *consumer) retry(ctx context.Context, what string, f func() error) {
	b := backoff{}
	for ctx.Err() == nil {
		err := f()
		if err == nil {
			return
		}
		c.q.log.Error(what, "err", err)
		b.sleep(ctx)
	}
}

// backoff sleeps 100ms, 200ms, … up to 2s between failed Redis calls.
type backoff struct{ d time.Duration }

func (b *backoff) sleep(ctx context.Context) bool { return b.sleepOr(ctx, nil) }

// sleepOr is sleep that also ends early (false) when stop is closed.
func (b *backoff) sleepOr(ctx context.Context, stop <-chan struct{}) bool {
	b.d = min(max(2*b.d, 100*time.Millisecond), 2*time.Second)
	t := time.NewTimer(b.d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-stop:
		return false
	case <-t.C:
		return true
	}
}
