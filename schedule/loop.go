package schedule

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/celeroot/celeroot/queue"
)

// maxSleep caps one wait of the fire loop, so that a step of the wall clock
// (NTP) is noticed within this time. Timers run on the monotonic clock.
const maxSleep = 30 * time.Second

// sweepEvery is how often the leader looks for fires that another leader
// claimed and did not finish.
const sweepEvery = time.Minute

// fireLoop is the leader's loop: it sleeps until the next due tick across
// all schedules (a heap; no polling), fires what is due, swaps in new sets
// between fires, and sweeps unfinished fires.
func (b *Beat) fireLoop(ctx context.Context) {
	st, err := b.newLeaderState(ctx, b.cur.Load())
	for err != nil {
		b.log.Warn("load cursors", "err", err)
		if !queue.Sleep(ctx, 250*time.Millisecond) {
			return
		}
		st, err = b.newLeaderState(ctx, b.cur.Load())
	}
	b.fan.sweep(ctx)
	lastSweep := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		timer.Reset(st.sleepFor(time.Now(), b.opt.Lookahead))
		select {
		case <-ctx.Done():
			return
		case <-b.kick:
			st = b.swap(ctx, st)
		case <-timer.C:
			b.fireDue(ctx, st)
			if time.Since(lastSweep) >= sweepEvery {
				b.fan.sweep(ctx)
				lastSweep = time.Now()
			}
		}
	}
}

// leaderState is the leader's view of one loaded set.
type leaderState struct {
	ld      *loaded
	h       entryHeap
	retryAt time.Time // after a Redis error, do not retry before this
}

// newLeaderState reads the cursors of ld's schedules (creating missing
// ones at now) and builds the heap.
func (b *Beat) newLeaderState(ctx context.Context, ld *loaded) (*leaderState, error) {
	all := append(append([]*compiled{}, ld.specs...), ld.off...)
	cursors, err := b.loadCursors(ctx, all, time.Now())
	if err != nil {
		return nil, err
	}
	st := &leaderState{ld: ld}
	for i, c := range ld.specs {
		e := &entry{c: c, cursor: cursors[i]}
		next, err := c.cron.Next(e.cursor)
		if err != nil {
			b.log.Warn("schedule never fires again", "schedule", c.spec.Name, "err", err)
			continue
		}
		e.next = next
		heap.Push(&st.h, e)
	}
	b.noteNext(st)
	return st, nil
}

// loadCursors runs the cursors script in chunks (a long script blocks Redis).
func (b *Beat) loadCursors(ctx context.Context, cs []*compiled, now time.Time) ([]time.Time, error) {
	out := make([]time.Time, 0, len(cs))
	for start := 0; start < len(cs); start += 1000 {
		chunk := cs[start:min(start+1000, len(cs))]
		value, _, ok := b.l.token()
		if !ok {
			return nil, ErrLeaseExpired
		}
		names, fps := make([]string, len(chunk)), make([]string, len(chunk))
		for i, c := range chunk {
			names[i], fps[i] = c.spec.Name, c.fp
		}
		res, err := b.st.Cursors(ctx, value, now, names, fps)
		if err != nil {
			return nil, fmt.Errorf("load cursors of %d schedules: %w", len(chunk), err)
		}
		for _, ms := range res {
			out = append(out, time.UnixMilli(ms))
		}
	}
	return out, nil
}

// sleepFor is how long the loop may sleep: until the lookahead before the
// first due tick.
func (st *leaderState) sleepFor(now time.Time, lookahead time.Duration) time.Duration {
	d := maxSleep
	if e := st.h.peek(); e != nil {
		d = min(d, e.next.Sub(now)-lookahead)
	}
	if wait := st.retryAt.Sub(now); wait > d {
		d = wait
	}
	return max(d, 0)
}

// swap replaces the loaded set: it first fires what is due under the old
// set, then rebuilds the heap from Redis' cursors (unchanged schedules
// continue where they were; changed ones start after now).
func (b *Beat) swap(ctx context.Context, st *leaderState) *leaderState {
	ld := b.cur.Load()
	if ld.digest == st.ld.digest {
		st.ld = ld
		return st
	}
	b.fireDue(ctx, st)
	nst, err := b.newLeaderState(ctx, ld)
	if err != nil {
		b.log.Warn("swap schedules: keeping the old set until the next try", "err", err)
		select { // try again on the next loop turn
		case b.kick <- struct{}{}:
		default:
		}
		st.retryAt = time.Now().Add(250 * time.Millisecond)
		return st
	}
	b.log.Info("schedules swapped", "sha", ld.set.SHA, "digest", ld.digest, "gen", ld.gen)
	return nst
}

// fireDue fires every tick due up to the lookahead: it claims them ahead
// of their time, in chunks of one pipelined round trip each, and the
// fan-outs enqueue each at its tick. At a busy tick only the enqueues are
// left to do.
func (b *Beat) fireDue(ctx context.Context, st *leaderState) {
	now := time.Now()
	if now.Before(st.retryAt) {
		return
	}
	horizon := now.Add(b.opt.Lookahead)
	due := st.h.popDue(horizon)
	for len(due) > 0 {
		n := min(len(due), 256)
		if err := b.fireChunk(ctx, st, due[:n], now, horizon); err != nil {
			for _, e := range due[n:] { // untouched: retried as they are
				heap.Push(&st.h, e)
			}
			if errors.Is(err, errFleetSwitched) { // not a failure: re-plan for the new fleet at once
				st.retryAt = time.Now().Add(5 * time.Millisecond)
				b.log.Info("active fleet switched: re-planning the due ticks", "schedules", len(due))
				break
			}
			st.retryAt = time.Now().Add(250 * time.Millisecond)
			b.log.Warn("claim due ticks", "schedules", len(due), "err", err)
			break
		}
		due = due[n:]
	}
	b.noteNext(st)
}

// fireChunk claims the due ticks of some entries and starts their fan-outs.
// On an error nothing is fanned out and the entries are put back as they
// were (claims are idempotent: a retry finds its own claims).
func (b *Beat) fireChunk(ctx context.Context, st *leaderState, due []*entry, now, horizon time.Time) error {
	prev := make([]entry, len(due))
	fv, err := b.activeFleet(ctx, st.ld)
	if err != nil {
		for _, e := range due {
			heap.Push(&st.h, e)
		}
		return err
	}
	var items []*claimItem
	for i, e := range due {
		prev[i] = *e
		items = append(items, b.dueItems(e, now, horizon, st.ld, fv)...)
	}
	if err := b.claim(ctx, items); err != nil {
		for i, e := range due {
			e.cursor, e.next = prev[i].cursor, prev[i].next
			heap.Push(&st.h, e)
		}
		return err
	}
	for _, e := range due {
		if !e.next.IsZero() {
			heap.Push(&st.h, e)
		}
	}
	b.startFires(items)
	return nil
}

// startFires hands the claimed fires to the fan-out, grouped by tick, in
// tick order.
func (b *Beat) startFires(items []*claimItem) {
	byTick := map[int64][]pending{}
	var ticks []int64
	for _, it := range items {
		if it.status != claimNew && it.status != claimResume {
			continue
		}
		ms := it.tick.UnixMilli()
		if _, ok := byTick[ms]; !ok {
			ticks = append(ticks, ms)
		}
		byTick[ms] = append(byTick[ms], pending{key: it.key, plan: it.plan})
	}
	slices.Sort(ticks)
	for _, ms := range ticks {
		b.fan.start(byTick[ms])
	}
}

// dueItems decides the ticks of e up to the horizon and advances e.
func (b *Beat) dueItems(e *entry, now, horizon time.Time, ld *loaded, fv fleetView) []*claimItem {
	sp := e.c.spec
	res, err := dueTicks(e.c.cron, e.cursor, now, horizon, duePolicy{Late: b.opt.LateWindow, Deadline: sp.StartingDeadline(), Catchup: sp.Catchup})
	if err != nil {
		b.log.Error("due ticks", "schedule", sp.Name, "err", err)
	}
	if res.Skipped > 0 {
		b.log.Warn("missed ticks skipped", "schedule", sp.Name, "skipped", res.Skipped, "catchup", sp.Catchup)
	}
	var items []*claimItem
	for _, t := range res.Fire {
		items = append(items, &claimItem{c: e.c, tick: t, mode: "fire", plan: b.planFor(e.c, t, ld, fv), fleet: fv})
	}
	// Move the cursor over skipped ticks too (fires move it themselves):
	// every tick up to now has been decided.
	if res.Skipped > 0 {
		items = append(items, &claimItem{c: e.c, tick: now, mode: "skip"})
	}
	e.cursor = horizon
	e.next = res.Next
	return items
}

// noteNext records the next due tick for status.
func (b *Beat) noteNext(st *leaderState) {
	var next time.Time
	if e := st.h.peek(); e != nil {
		next = e.next
	}
	b.mu.Lock()
	b.next = next
	b.mu.Unlock()
}
