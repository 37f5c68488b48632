package schedule

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/celeroot/celeroot/dispatch"
	"github.com/celeroot/celeroot/queue"
)

// fanout enqueues the runs of claimed fires, one per host on its host
// queue, with an idempotency key per (schedule, tick, host): a fire that is
// finished twice (a retry, or a new leader sweeping it) enqueues each run
// once. The fires of one tick are delivered together, their runs in
// batches of one round trip each (queue.EnqueueMany).
type fanout struct {
	b      *Beat
	slots  chan struct{} // enqueue batches in flight
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // fan-outs
	done   chan doneRec   // outcomes to record, in batches
	stop   chan struct{}  // closed when no fan-out is left: the recorder drains and ends
	recWG  sync.WaitGroup // the recorder

	mu       sync.Mutex
	inflight map[string]bool // fire keys being fanned out or recorded
}

// pending is a claimed fire waiting for its tick.
type pending struct {
	key       string
	plan      *firePlan
	recovered bool
}

// enqueueBatch is the number of runs per EnqueueMany call.
const enqueueBatch = 500

func newFanout(b *Beat) *fanout {
	ctx, cancel := context.WithCancel(context.Background())
	return &fanout{b: b, slots: make(chan struct{}, b.opt.FanOut), ctx: ctx, cancel: cancel,
		done: make(chan doneRec, 1024), stop: make(chan struct{}), inflight: map[string]bool{}}
}

// open starts the recorder; Run calls it, and close ends it.
func (f *fanout) open() { f.recWG.Go(f.recorder) }

func (f *fanout) release(key string) {
	f.mu.Lock()
	delete(f.inflight, key)
	f.mu.Unlock()
}

// IdempotencyKey is the queue idempotency key of the run a schedule's tick
// puts on a host's queue.
func IdempotencyKey(schedule string, tick time.Time, host string) string {
	return fmt.Sprintf("sched:%s:%d:%s", schedule, tick.Unix(), host)
}

// start fans out claimed fires of one tick in the background; fires
// already in flight are left out.
func (f *fanout) start(fires []pending) {
	f.mu.Lock()
	if f.ctx.Err() != nil {
		f.mu.Unlock()
		return
	}
	var mine []pending
	for _, p := range fires {
		if !f.inflight[p.key] {
			f.inflight[p.key] = true
			mine = append(mine, p)
		}
	}
	f.mu.Unlock()
	if len(mine) > 0 {
		f.wg.Go(func() { f.run(mine) })
	}
}

// wait waits for the fires in flight, at most d.
func (f *fanout) wait(d time.Duration) {
	done := make(chan struct{})
	go func() { f.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// close waits at most d for the fires in flight, then cancels the rest
// (a later leader's sweep finishes them), waits for them to return and for
// their outcomes to be recorded.
func (f *fanout) close(d time.Duration) {
	f.wait(d)
	f.cancel()
	f.wg.Wait()
	close(f.stop)
	f.recWG.Wait()
}

// run delivers fires of one tick at that tick, while this beat still leads
// (otherwise the next leader's sweep delivers them), and hands their
// outcomes to the recorder. A fire whose enqueues failed for a Redis error
// stays "firing" for a later sweep.
func (f *fanout) run(fires []pending) {
	if !f.waitFor(fires[0].plan.tick()) || !f.b.l.valid() {
		for _, p := range fires {
			f.release(p.key)
		}
		return
	}
	_, epoch, _ := f.b.l.token()
	recs := make([]FireRecord, len(fires))
	retry := make([]bool, len(fires))
	var runs []*queue.Run
	var owners []int // fire index of each run
	for i, p := range fires {
		recs[i] = FireRecord{Schedule: p.plan.Schedule, Tick: p.plan.tick(), Beat: f.b.opt.ID, Epoch: epoch, Recovered: p.recovered}
		if p.plan.Backup != nil {
			retry[i] = f.backup(p.plan, &recs[i])
			continue
		}
		for _, r := range hostRuns(p.plan, &recs[i]) {
			runs, owners = append(runs, r), append(owners, i)
		}
	}
	f.enqueueAll(runs, owners, recs, retry)
	now := time.Now()
	for i, p := range fires {
		recs[i].DoneAt = now
		if retry[i] && (f.ctx.Err() != nil || time.Since(p.plan.tick()) < time.Duration(p.plan.DeadlineMS)*time.Millisecond) {
			f.b.log.Warn("fire incomplete; a sweep retries it", "schedule", p.plan.Schedule, "tick", recs[i].Tick, "err", recs[i].Error)
			f.release(p.key)
			continue
		}
		f.done <- doneRec{p.key, &recs[i]}
	}
}

// waitFor sleeps until t on the wall clock (re-checking after the sleep,
// in case the clock was stepped); false when the fan-outs are cancelled.
func (f *fanout) waitFor(t time.Time) bool {
	for {
		d := time.Until(t)
		if d <= 0 {
			return f.ctx.Err() == nil
		}
		if !queue.Sleep(f.ctx, d) {
			return false
		}
	}
}

// hostRuns returns the runs of a fire's plan, counting hosts whose role
// cannot run the task as errors.
func hostRuns(plan *firePlan, rec *FireRecord) []*queue.Run {
	rec.Hosts = len(plan.Hosts)
	rec.Runs = make(map[string]string, len(plan.Hosts))
	tick := plan.tick()
	runs := make([]*queue.Run, 0, len(plan.Hosts))
	for _, h := range plan.Hosts {
		tr := plan.Tasks[h.Task]
		if tr.Error != "" {
			rec.Errors++
			rec.Error = firstErr(rec.Error, tr.Error)
			continue
		}
		runs = append(runs, &queue.Run{
			Task: tr.Task, Module: tr.Module, Params: tr.Params, Target: queue.HostQueue(h.Name),
			MaxRetries: tr.MaxRetries, Timeout: time.Duration(tr.TimeoutMS) * time.Millisecond,
			ScheduleID: plan.Schedule, Tick: tick, IdempotencyKey: IdempotencyKey(plan.Schedule, tick, h.Name),
		})
	}
	return runs
}

// enqueueAll enqueues runs in batches (dispatch.Enqueue), several batches
// at a time (the fan-out slots, shared by the fires in flight), each retried
// briefly on Redis errors (the idempotency keys make a retry safe), and
// accounts each run to its fire's record.
func (f *fanout) enqueueAll(runs []*queue.Run, owners []int, recs []FireRecord, retry []bool) {
	out := dispatch.Enqueue(f.ctx, f.b.q, runs, dispatch.BatchOptions{Size: enqueueBatch, Slots: f.slots, Attempts: 3})
	for k, r := range runs {
		rec, o := &recs[owners[k]], out[k]
		host, _ := queue.ParseHostQueue(r.Target)
		switch {
		case o.Err != nil:
			rec.Errors++
			rec.Error = firstErr(rec.Error, fmt.Sprintf("enqueue for %s: %v", host, o.Err))
			retry[owners[k]] = retry[owners[k]] || o.Batch
		case o.Dup:
			rec.Duplicates++
			rec.Runs[host] = o.ID
		default:
			rec.Enqueued++
			rec.Runs[host] = o.ID
		}
	}
}

// backup runs the internal backup fire; it reports whether to retry.
func (f *fanout) backup(plan *firePlan, rec *FireRecord) bool {
	res, err := f.b.backupFire(f.ctx, plan.Backup, plan.tick())
	rec.Backup = res
	if err != nil {
		rec.Errors, rec.Error = 1, err.Error()
		return true
	}
	return false
}

func firstErr(prev, msg string) string {
	if prev != "" {
		return prev
	}
	return msg
}
