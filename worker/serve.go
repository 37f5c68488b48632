package worker

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/celeroot/celeroot/queue"
)

// serve claims and runs until ctx ends or the budget is spent, drains, and
// returns why it stopped.
func (w *worker) serve(ctx context.Context) error {
	claimCtx, stopClaiming := context.WithCancelCause(ctx)
	defer stopClaiming(nil)
	runBase, stopRuns := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stopRuns(nil)
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()
	w.claimCtx, w.stopClaiming, w.runBase, w.stopRuns = claimCtx, stopClaiming, runBase, stopRuns
	w.completer = w.q.NewCompleter(runBase, 0, completeHold)
	defer w.completer.Close()
	w.serving.Store(true)

	drained := make(chan struct{})
	var loops sync.WaitGroup
	loops.Go(func() { w.maintain(bg) })
	loops.Go(func() { w.control(bg) })
	loops.Go(func() { w.enforceGrace(ctx, drained) })

	w.retry(claimCtx, "create queues", func() error { return w.q.EnsureQueues(claimCtx, w.queues...) })
	w.replay(claimCtx)
	w.claimLoop(claimCtx)
	w.serving.Store(false)
	if n := w.busy(); n > 0 {
		w.log.Info("draining: waiting for running tasks", "runs", n, "why", context.Cause(claimCtx))
	}
	w.runs.Wait()
	close(drained)
	stopBG()
	loops.Wait()
	return context.Cause(claimCtx)
}

// enforceGrace stops the runs still going Grace after ctx is cancelled;
// they are handed back.
func (w *worker) enforceGrace(ctx context.Context, drained <-chan struct{}) {
	select {
	case <-drained:
		return
	case <-ctx.Done():
	}
	t := time.NewTimer(w.o.Grace)
	defer t.Stop()
	select {
	case <-drained:
		return
	case <-t.C:
	}
	w.log.Warn("grace period over: stopping running tasks", "runs", w.busy(), "grace", w.o.Grace)
	w.stopRuns(errShutdown)
}

// replay restarts the runs a previous process of this host had started.
// Once only: a second replay would take over the runs just started.
func (w *worker) replay(ctx context.Context) {
	for _, qu := range w.queues {
		ds, err := w.q.Replay(ctx, w.o.Host, qu)
		if err != nil {
			// What a failed replay leaves is reclaimed when its lease expires.
			w.log.Error("replay runs", "queue", qu, "err", err)
		}
		for _, d := range ds {
			w.log.Info("replaying run", "run", d.Run.ID, "task", d.Run.Task, "queue", qu)
			w.budget.tryTake() // counted by start even when none is left
			w.start(d, w.tryAcquire())
		}
	}
}

// release frees a slot.
func (w *worker) release() { <-w.slots }

func (w *worker) tryAcquire() bool {
	select {
	case w.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

// claimLoop claims runs into free slots while there is budget, taking the
// queues in turns, and every tick first reclaims runs of dead workers.
func (w *worker) claimLoop(ctx context.Context) {
	var b queue.Backoff
	lastReclaim := time.Now()
	for turn := 0; ; turn++ {
		n := w.reserve(ctx)
		if n == 0 {
			return
		}
		var ds []*queue.Delivery
		if time.Since(lastReclaim) >= w.tick {
			ds, lastReclaim = w.reclaim(ctx, n), time.Now()
		}
		var err error
		if len(ds) < n {
			var got []*queue.Delivery
			got, err = w.claim(ctx, turn, n-len(ds))
			ds = append(ds, got...)
		}
		for i, d := range ds {
			if i < n {
				w.start(d, true)
			} else {
				w.prefetched(d)
			}
		}
		w.unreserve(max(n-len(ds), 0))
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			w.log.Error("claim runs", "queues", w.queues, "err", err)
			b.Sleep(ctx)
		default:
			b = queue.Backoff{}
		}
	}
}

// claim takes up to n runs for the free slots from the queues, plus up to
// prefetchRoom more of the host queue, in one read of both queues; when
// there are none it waits up to w.block for runs for the free slots. The
// role queue's runs come first and never beyond n: a run waiting here for a
// slot must not be one that another worker of the role could be running.
// When the queues were found shallow (fewer runs than free slots), the next
// claim goes straight to the blocking read, which returns at once when runs
// are waiting: an idle or lightly loaded worker pays one round trip per
// claim, not three. A read that lists due retries runs at least every tick.
func (w *worker) claim(ctx context.Context, turn, n int) ([]*queue.Delivery, error) {
	host, role := w.queues[0], w.queues[1]
	if !w.shallow || time.Since(w.scanned) >= w.tick {
		w.scanned = time.Now()
		ds, err := w.q.ClaimNow(ctx, w.o.Host, []queue.Want{{Queue: role, N: n}, {Queue: host, N: n + w.prefetchRoom()}}, w.completer)
		if len(ds) > 0 || err != nil {
			w.shallow = len(ds) < n && !w.q.Cluster()
			return ds, err
		}
	}
	ds, err := w.q.ClaimWait(ctx, w.o.Host, rotate(w.queues, turn), n, w.block, w.completer)
	// A wait reads at most n/2 runs of each queue: one that got that many
	// may have left more behind.
	w.shallow = len(ds) < max(n/len(w.queues), 1) && !w.q.Cluster()
	return ds, err
}

// prefetchRoom is how many host-queue runs may be claimed beyond the free
// slots: up to prefetch per slot wait here for a slot, started (their
// leases renewed) but not running yet, so that a busy worker claims many
// runs per round trip. None with max_tasks_per_child.
func (w *worker) prefetchRoom() int {
	if w.budget.tokens != nil {
		return 0
	}
	return max(w.prefetchPerSlot()*cap(w.slots)-int(w.waiting.Load()), 0)
}

// prefetchPerSlot is how many runs per slot to claim ahead: prefetch until
// a run has been timed, then as many as a slot finishes in prefetchWindow.
func (w *worker) prefetchPerSlot() int {
	avg := time.Duration(w.runTime.Load())
	if avg <= 0 {
		return prefetch
	}
	return int(min(prefetchWindow/avg, maxPrefetch))
}

// timeRun adds a run's duration to the moving average (weight 1/8).
func (w *worker) timeRun(d time.Duration) {
	for {
		old := w.runTime.Load()
		next := int64(d)
		if old > 0 {
			next = old + (int64(d)-old)/8
		}
		if w.runTime.CompareAndSwap(old, max(next, 1)) {
			return
		}
	}
}

// reserve waits for a free slot and a start left in the budget, then takes
// the other free ones too; it returns how many it holds (0: ctx ended).
func (w *worker) reserve(ctx context.Context) int {
	select {
	case w.slots <- struct{}{}:
	case <-ctx.Done():
		return 0
	}
	if !w.budget.take(ctx) {
		w.release()
		return 0
	}
	n := 1
	for w.tryAcquire() {
		if !w.budget.tryTake() {
			w.release()
			break
		}
		n++
	}
	return n
}

func (w *worker) unreserve(n int) {
	for range n {
		w.release()
		w.budget.give()
	}
}

// rotate returns qs starting at element turn mod len(qs), so that no queue
// always comes first.
func rotate(qs []string, turn int) []string {
	i := turn % len(qs)
	return append(append([]string{}, qs[i:]...), qs[:i]...)
}

// start runs d in its own goroutine; owned says whether d holds a slot,
// which is freed as soon as the task is over (its result may still be
// waiting for the completer). Its budget reservation, if any, is spent.
func (w *worker) start(d *queue.Delivery, owned bool) {
	if w.budget.use() {
		w.stopClaiming(errRecycle)
	}
	rctx, cancel := context.WithCancelCause(w.runBase)
	w.register(d, cancel)
	w.runs.Go(func() {
		defer w.unregister(d, cancel)
		w.execute(rctx, d, owned)
	})
}

// execute runs d and records its result, or hands it back or drops it
// when it was stopped by the shutdown or a lost lease.
func (w *worker) execute(rctx context.Context, d *queue.Delivery, owned bool) {
	w.executing.Add(1)
	began := time.Now()
	res, stopped := w.run(rctx, d)
	w.timeRun(time.Since(began))
	w.executing.Add(-1)
	if owned {
		w.release()
	}
	if stopped {
		switch cause := context.Cause(rctx); {
		case errors.Is(cause, queue.ErrLeaseLost):
			w.log.Warn("run dropped: lease lost", "run", d.Run.ID, "queue", d.Queue)
			return
		case errors.Is(cause, errShutdown):
			w.handBack(d, res)
			return
		case errors.Is(cause, errKilled):
			res = queue.Result{ExitCode: res.ExitCode, Killed: true, Lines: res.Lines}
		}
	}
	w.complete(d, res)
}

// prefetched runs d once a slot is free. If claiming stops first (the
// worker is stopping) it is handed back at once; if it is killed first it
// ends killed.
func (w *worker) prefetched(d *queue.Delivery) {
	w.budget.use()
	rctx, cancel := context.WithCancelCause(w.runBase)
	w.register(d, cancel)
	w.waiting.Add(1)
	w.runs.Go(func() {
		defer w.unregister(d, cancel)
		ok := w.waitSlot(rctx)
		w.waiting.Add(-1)
		switch {
		case ok:
			w.execute(rctx, d, true)
		case errors.Is(context.Cause(rctx), errKilled):
			w.complete(d, queue.Result{ExitCode: refusedExit, Killed: true, Lines: note("killed before start")})
		case errors.Is(context.Cause(rctx), queue.ErrLeaseLost):
		default:
			w.handBack(d, queue.Result{})
		}
	})
}

// waitSlot takes a slot for a prefetched run; false when the run is
// stopped or claiming stops first.
func (w *worker) waitSlot(rctx context.Context) bool {
	select {
	case w.slots <- struct{}{}:
		return true
	case <-rctx.Done():
	case <-w.claimCtx.Done():
	}
	return false
}

// register records d as in flight (renewed, killable); a kill that arrived
// before it did stops it at once.
func (w *worker) register(d *queue.Delivery, cancel context.CancelCauseFunc) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.inflight[d.Run.ID] = &flight{d: d, cancel: cancel}
	if _, ok := w.earlyKills[d.Run.ID]; ok {
		delete(w.earlyKills, d.Run.ID)
		cancel(errKilled)
	}
}

func (w *worker) unregister(d *queue.Delivery, cancel context.CancelCauseFunc) {
	cancel(nil)
	w.mu.Lock()
	delete(w.inflight, d.Run.ID)
	w.mu.Unlock()
}

// handBack returns a run stopped by the shutdown to its queue without a
// result or a counted delivery; if that fails, it stays pending and is
// replayed by the next worker of the host or reclaimed by another worker of
// the role.
func (w *worker) handBack(d *queue.Delivery, res queue.Result) {
	for _, l := range res.Lines {
		w.appendNote(w.runBase, d.Run.ID, l.Text+" (handed back)")
	}
	err := w.q.Release(context.WithoutCancel(w.runBase), d)
	if err != nil {
		w.log.Warn("run left pending: hand back failed", "run", d.Run.ID, "queue", d.Queue, "err", err)
		return
	}
	w.log.Warn("run handed back", "run", d.Run.ID, "queue", d.Queue, "why", errShutdown)
}

// complete records a result through the completer (batched with other
// results), which retries Redis errors until the grace period of a
// shutdown ends; the run stays in flight meanwhile, so its lease is
// renewed. A run given up on stays pending and is replayed or reclaimed.
func (w *worker) complete(d *queue.Delivery, res queue.Result) {
	r, err := w.completer.Complete(context.WithoutCancel(w.runBase), d, res)
	switch {
	case errors.Is(err, queue.ErrLeaseLost):
		w.log.Warn("result dropped: lease lost", "run", d.Run.ID, "err", err)
		return
	case err != nil:
		w.log.Error("result not recorded: run left pending", "run", d.Run.ID, "err", err)
		return
	}
	w.processed.Add(1)
	if !r.State.Successful() {
		w.failed.Add(1)
	}
	w.counted.Store(true)
	w.log.Info("run finished", "run", d.Run.ID, "task", d.Run.Task, "state", r.State,
		"exit_code", r.ExitCode, "reason", r.Reason)
}

// maintain renews leases every tick and sends a heartbeat every third of
// the heartbeat TTL until ctx ends, and within a second of a finished run
// (so that `cl task status` shows fresh PROCESSED/FAILED counts).
func (w *worker) maintain(ctx context.Context) {
	renew := time.NewTicker(w.tick)
	defer renew.Stop()
	beat := time.NewTicker(w.beat)
	defer beat.Stop()
	soon := time.NewTicker(min(time.Second, w.beat))
	defer soon.Stop()
	w.heartbeat(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-renew.C:
			w.renew(ctx)
		case <-beat.C:
			w.counted.Store(false)
			w.heartbeat(ctx)
		case <-soon.C:
			if w.counted.Swap(false) {
				w.heartbeat(ctx)
			}
		}
	}
}

func (w *worker) renew(ctx context.Context) {
	w.mu.Lock()
	ds := make([]*queue.Delivery, 0, len(w.inflight))
	for _, f := range w.inflight {
		ds = append(ds, f.d)
	}
	w.mu.Unlock()
	lost, killed, err := w.q.Renew(ctx, ds...)
	if err != nil && ctx.Err() == nil {
		w.log.Error("renew leases", "runs", len(ds), "err", err)
	}
	for _, d := range lost {
		w.cancelRun(d.Run.ID, queue.ErrLeaseLost)
	}
	for _, d := range killed {
		w.cancelRun(d.Run.ID, errKilled)
	}
}

// reclaim takes over up to n runs whose lease expired (their worker died).
func (w *worker) reclaim(ctx context.Context, n int) []*queue.Delivery {
	var out []*queue.Delivery
	for _, qu := range w.queues {
		if len(out) == n {
			break
		}
		ds, err := w.q.Reclaim(ctx, w.o.Host, qu, n-len(out))
		if err != nil && ctx.Err() == nil {
			w.log.Error("reclaim runs", "queue", qu, "err", err)
		}
		for _, d := range ds {
			w.log.Info("reclaimed run", "run", d.Run.ID, "task", d.Run.Task, "queue", qu)
		}
		out = append(out, ds...)
	}
	return out
}

// control reads the host's control stream and stops killed runs.
func (w *worker) control(ctx context.Context) {
	var b queue.Backoff
	for ctx.Err() == nil {
		msgs, err := w.q.ReadControl(ctx, w.o.Host, time.Second)
		if err != nil {
			if ctx.Err() == nil {
				w.log.Error("read control stream", "err", err)
				b.Sleep(ctx)
			}
			continue
		}
		b = queue.Backoff{}
		for _, m := range msgs {
			if m.Op == queue.ControlKill {
				w.kill(m.Run)
			}
		}
		if err := w.q.AckControl(ctx, w.o.Host, msgs...); err != nil && ctx.Err() == nil {
			w.log.Error("ack control messages", "err", err)
		}
	}
}

// kill stops run id, or remembers the kill for a run that this worker
// has started but not registered yet (the message can overtake the claim's
// reply); remembered kills are forgotten after earlyKillTTL.
func (w *worker) kill(id string) {
	w.mu.Lock()
	f := w.inflight[id]
	if f == nil {
		now := time.Now()
		for k, at := range w.earlyKills {
			if now.Sub(at) > earlyKillTTL {
				delete(w.earlyKills, k)
			}
		}
		w.earlyKills[id] = now
	}
	w.mu.Unlock()
	if f != nil {
		w.log.Info("stopping run", "run", id, "why", errKilled)
		f.cancel(errKilled)
	}
}

func (w *worker) cancelRun(id string, cause error) {
	w.mu.Lock()
	f := w.inflight[id]
	w.mu.Unlock()
	if f != nil {
		w.log.Info("stopping run", "run", id, "why", cause)
		f.cancel(cause)
	}
}

// retry calls f until it succeeds or ctx ends.
func (w *worker) retry(ctx context.Context, what string, f func() error) {
	var b queue.Backoff
	for ctx.Err() == nil {
		err := f()
		if err == nil {
			return
		}
		w.log.Error(what, "err", err)
		b.Sleep(ctx)
	}
}
