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
	wg     sync.WaitGroup

	mu       sync.Mutex
	inflight map[string]bool // fire keys being fanned out
}

func newFanout(b *Beat) *fanout {
	ctx, cancel := context.WithCancel(context.Background())
	return &fanout{b: b, slots: make(chan struct{}, b.opt.FanOut), ctx: ctx, cancel: cancel, inflight: map[string]bool{}}
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
	f.wg.Go(func() {
		defer func() {
			f.mu.Lock()
			delete(f.inflight, key)
			f.mu.Unlock()
		}()
		f.run(key, plan, recovered)
	})
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
// (a later leader's sweep finishes them) and waits for them to return.
func (f *fanout) close(d time.Duration) {
	f.wait(d)
	f.cancel()
	f.wg.Wait()
}

// run enqueues a fire's runs and records the outcome. A fire whose
// enqueues failed for a Redis error stays "firing" for a later sweep.
func (f *fanout) run(key string, plan *firePlan, recovered bool) {
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
	if retry && time.Since(plan.tick()) < time.Duration(plan.DeadlineMS)*time.Millisecond && f.ctx.Err() == nil {
		f.b.log.Warn("fire incomplete; a sweep retries it", "schedule", plan.Schedule, "tick", rec.Tick, "err", rec.Error)
		return
	}
	if err := f.record(key, &rec); err != nil {
		f.b.log.Warn("record fire", "schedule", plan.Schedule, "tick", rec.Tick, "err", err)
		return
	}
	f.report(&rec)
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

// record stores the outcome: the fire key becomes done, leaves the firing
// set, and becomes the schedule's last fire.
func (f *fanout) record(key string, rec *FireRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode fire record %s: %w", key, err)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(f.ctx), 5*time.Second)
	defer cancel()
	k := f.b.k
	if err := scriptDone.Run(ctx, f.b.rdb, []string{key, k.firing(), k.last()}, rec.Schedule, string(b), time.Now().UnixMilli()).Err(); err != nil {
		return fmt.Errorf("record fire %s: %w", key, err)
	}
	return nil
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
		if err := f.record(key, &rec); err == nil {
			f.report(&rec)
		}
		return
	}
	f.b.log.Info("finishing a fire claimed earlier", "schedule", plan.Schedule, "tick", plan.tick())
	f.startAs(key, &plan, true)
}
