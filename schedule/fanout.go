package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/celeroot/celeroot/queue"
)

// fanout enqueues the runs of claimed fires, one per host on its host
// queue, with an idempotency key per (schedule, tick, host): a fire that is
// finished twice (a retry, or a new leader sweeping it) enqueues each run
// once.
type fanout struct {
	b      *Beat
	slots  chan struct{} // enqueues in flight
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // fan-outs
	done   chan doneRec   // outcomes to record, in batches
	stop   chan struct{}  // closed when no fan-out is left: the recorder drains and ends
	recWG  sync.WaitGroup // the recorder

	mu       sync.Mutex
	inflight map[string]bool // fire keys being fanned out or recorded
}

type doneRec struct {
	key string
	rec *FireRecord
}

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

// start fans out one claimed fire in the background (once per key).
func (f *fanout) start(key string, plan *firePlan) { f.startAs(key, plan, false) }

func (f *fanout) startAs(key string, plan *firePlan, recovered bool) {
	f.mu.Lock()
	if f.inflight[key] || f.ctx.Err() != nil {
		f.mu.Unlock()
		return
	}
	f.inflight[key] = true
	f.mu.Unlock()
	f.wg.Go(func() { f.run(key, plan, recovered) })
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

// run enqueues a fire's runs and records the outcome. A fire whose
// enqueues failed for a Redis error stays "firing" for a later sweep.
func (f *fanout) run(key string, plan *firePlan, recovered bool) {
	// Claimed ahead of its tick: enqueue at the tick, and only while this
	// beat still leads (otherwise the next leader's sweep delivers it).
	if !f.waitFor(plan.tick()) || !f.b.l.valid() {
		f.release(key)
		return
	}
	_, epoch, _ := f.b.l.token()
	rec := FireRecord{Schedule: plan.Schedule, Tick: plan.tick(), Beat: f.b.opt.ID, Epoch: epoch, Recovered: recovered}
	var retry bool
	if plan.Backup != nil {
		res, err := f.b.backupFire(f.ctx, plan.Backup, plan.tick())
		rec.Backup = res
		if err != nil {
			rec.Errors, rec.Error, retry = 1, err.Error(), true
		}
	} else {
		retry = f.enqueueAll(plan, &rec)
	}
	rec.DoneAt = time.Now()
	if retry && (f.ctx.Err() != nil || time.Since(plan.tick()) < time.Duration(plan.DeadlineMS)*time.Millisecond) {
		f.b.log.Warn("fire incomplete; a sweep retries it", "schedule", plan.Schedule, "tick", rec.Tick, "err", rec.Error)
		f.release(key)
		return
	}
	f.done <- doneRec{key, &rec}
}

// recorder writes outcomes in pipelined batches. While enqueues are in
// flight (a busy tick) it holds them back, up to recordDelay or
// recordBatch outcomes, so that recording does not compete with delivery.
func (f *fanout) recorder() {
	var pending []doneRec
	var first time.Time
	poll := time.NewTicker(10 * time.Millisecond)
	poll.Stop()
	defer poll.Stop()
	for {
		select {
		case d := <-f.done:
			if len(pending) == 0 {
				first = time.Now()
				poll.Reset(10 * time.Millisecond)
			}
			pending = append(pending, d)
		case <-poll.C:
		case <-f.stop:
			for len(f.done) > 0 {
				pending = append(pending, <-f.done)
			}
			f.flush(pending)
			return
		}
		if len(pending) > 0 && (len(f.slots) == 0 || len(pending) >= recordBatch || time.Since(first) >= recordDelay) {
			f.flush(pending)
			pending = pending[:0]
			poll.Stop()
		}
	}
}

const (
	recordBatch = 1024
	recordDelay = 250 * time.Millisecond
)

// flush records outcomes, 256 per pipeline.
func (f *fanout) flush(recs []doneRec) {
	for len(recs) > 0 {
		n := min(len(recs), 256)
		f.recordBatch(recs[:n])
		recs = recs[n:]
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
		if !sleep(f.ctx, d) {
			return false
		}
	}
}

// enqueueAll enqueues every host's run concurrently (bounded by the fan-out
// slots). It reports whether some enqueue failed for a transient reason.
func (f *fanout) enqueueAll(plan *firePlan, rec *FireRecord) (retry bool) {
	rec.Hosts = len(plan.Hosts)
	rec.Runs = make(map[string]string, len(plan.Hosts))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, h := range plan.Hosts {
		tr := plan.Tasks[h.Task]
		if tr.Error != "" {
			rec.Errors++
			rec.Error = firstErr(rec.Error, tr.Error)
			continue
		}
		f.slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-f.slots }()
			id, dup, err := f.enqueue(plan, h.Name, tr)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				rec.Errors++
				rec.Error = firstErr(rec.Error, err.Error())
				retry = true
			case dup:
				rec.Duplicates++
				rec.Runs[h.Name] = id
			default:
				rec.Enqueued++
				rec.Runs[h.Name] = id
			}
		})
	}
	wg.Wait()
	return retry
}

// enqueue puts one host's run on its queue, retrying Redis errors briefly.
func (f *fanout) enqueue(plan *firePlan, host string, tr TaskRun) (id string, dup bool, err error) {
	tick := plan.tick()
	key := IdempotencyKey(plan.Schedule, tick, host)
	for attempt := range 3 {
		run := &queue.Run{
			Task: tr.Task, Module: tr.Module, Params: tr.Params, Target: queue.HostQueue(host),
			MaxRetries: tr.MaxRetries, Timeout: time.Duration(tr.TimeoutMS) * time.Millisecond,
			ScheduleID: plan.Schedule, Tick: tick,
		}
		id, dup, err = f.b.q.Enqueue(f.ctx, run, key)
		if err == nil || errors.Is(err, context.Canceled) || !sleep(f.ctx, time.Duration(attempt+1)*100*time.Millisecond) {
			break
		}
	}
	if err != nil {
		return "", false, fmt.Errorf("enqueue %s for %s at %s: %w", plan.Schedule, host, tick.Format(time.RFC3339), err)
	}
	return id, dup, nil
}

func firstErr(prev, msg string) string {
	if prev != "" {
		return prev
	}
	return msg
}

// recordBatch stores outcomes: each fire key becomes done, leaves the
// firing set, and becomes its schedule's last fire. A fire whose record
// could not be written stays in the firing set; a sweep finishes it.
func (f *fanout) recordBatch(batch []doneRec) {
	calls := make([]scriptCall, 0, len(batch))
	for _, d := range batch {
		raw, err := json.Marshal(d.rec)
		if err != nil {
			raw = []byte("{}")
		}
		calls = append(calls, scriptCall{keys: []string{d.key, f.b.k.firing(), f.b.k.last()},
			args: []any{d.rec.Schedule, string(raw), time.Now().UnixMilli()}})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cmds, err := runPipelined(ctx, f.b.rdb, scriptDone, calls)
	for i, d := range batch {
		if err == nil {
			err = cmds[i].Err()
		}
		if err != nil {
			f.b.log.Warn("record fire", "schedule", d.rec.Schedule, "tick", d.rec.Tick, "err", err)
		} else {
			f.report(d.rec)
		}
		f.release(d.key)
	}
}

func (f *fanout) report(rec *FireRecord) {
	lvl := f.b.log.Info
	if rec.Errors > 0 {
		lvl = f.b.log.Warn
	}
	lvl("fired", "schedule", rec.Schedule, "tick", rec.Tick, "hosts", rec.Hosts, "enqueued", rec.Enqueued,
		"duplicates", rec.Duplicates, "errors", rec.Errors, "late_ms", rec.DoneAt.Sub(rec.Tick).Milliseconds(), "recovered", rec.Recovered)
	if f.b.opt.OnFire == nil {
		return
	}
	ev := FireEvent{Schedule: rec.Schedule, Tick: rec.Tick, Hosts: rec.Hosts, Enqueued: rec.Enqueued, Duplicates: rec.Duplicates,
		Errors: rec.Errors, Recovered: rec.Recovered, Done: rec.DoneAt}
	if rec.Error != "" {
		ev.Err = errors.New(rec.Error)
	}
	f.b.opt.OnFire(ev)
}

// sweep finishes fires that were claimed but not recorded: by a leader that
// died or lost its lease mid fan-out, or by this one after Redis errors.
// Fires past their starting deadline are recorded as abandoned.
func (f *fanout) sweep(ctx context.Context) {
	octx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	keys, err := f.b.rdb.ZRange(octx, f.b.k.firing(), 0, 999).Result()
	if err != nil {
		f.b.log.Warn("sweep unfinished fires", "err", err)
		return
	}
	for _, key := range keys {
		f.mu.Lock()
		busy := f.inflight[key]
		f.mu.Unlock()
		if !busy {
			f.sweepOne(octx, key)
		}
	}
}

func (f *fanout) sweepOne(ctx context.Context, key string) {
	h, err := f.b.rdb.HMGet(ctx, key, "state", "plan").Result()
	if err != nil {
		f.b.log.Warn("sweep fire", "key", key, "err", err)
		return
	}
	state, _ := h[0].(string)
	raw, _ := h[1].(string)
	var plan firePlan
	if state != "firing" || json.Unmarshal([]byte(raw), &plan) != nil {
		f.b.rdb.ZRem(ctx, f.b.k.firing(), key) // expired, done, or unreadable
		return
	}
	if time.Since(plan.tick()) > time.Duration(plan.DeadlineMS)*time.Millisecond+f.b.opt.LateWindow {
		rec := FireRecord{Schedule: plan.Schedule, Tick: plan.tick(), Beat: f.b.opt.ID, DoneAt: time.Now(), Hosts: len(plan.Hosts),
			Errors: len(plan.Hosts), Error: "abandoned: not finished within the starting deadline", Recovered: true}
		f.recordBatch([]doneRec{{key, &rec}})
		return
	}
	f.b.log.Info("finishing a fire claimed earlier", "schedule", plan.Schedule, "tick", plan.tick())
	f.startAs(key, &plan, true)
}
