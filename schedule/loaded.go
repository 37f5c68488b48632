package schedule

import (
	"container/heap"
	"log/slog"
	"time"
)

// loaded is a Set compiled for firing.
type loaded struct {
	set    *Set
	digest string
	gen    int64
	specs  []*compiled // enabled schedules with a valid cron, plus the backup
	off    []*compiled // disabled ones: their cursors are parked
}

// compiled is one schedule ready to fire.
type compiled struct {
	spec   *Spec
	cron   *Cron
	fp     string  // fingerprint of what decides its ticks: cron and zone
	backup *Backup // set for the internal backup schedule
}

// compile prepares set; schedules whose cron or zone do not parse are
// logged and left out (a published set was validated by config already).
func compile(set *Set, gen int64, log *slog.Logger) *loaded {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ld := &loaded{set: set, digest: set.Digest(), gen: gen}
	crons := map[string]*Cron{} // shared by schedules with the same cron and zone
	for i := range set.Schedules {
		sp := &set.Schedules[i]
		c, err := internCron(crons, sp.Cron, sp.Timezone)
		if err != nil {
			log.Error("schedule left out", "schedule", sp.Name, "err", err)
			continue
		}
		cs := &compiled{spec: sp, cron: c, fp: sp.Cron + "|" + sp.Timezone}
		if !sp.Enabled {
			cs.fp = "off|" + cs.fp
			ld.off = append(ld.off, cs)
			continue
		}
		ld.specs = append(ld.specs, cs)
	}
	if b := set.Backup; b != nil {
		sp := &Spec{Name: BackupName, Cron: b.Schedule, Timezone: "UTC", Enabled: true, Catchup: CatchupOnce}
		c, err := ParseCron(b.Schedule, "UTC")
		if err != nil {
			log.Error("redis backup schedule left out", "cron", b.Schedule, "err", err)
		} else {
			ld.specs = append(ld.specs, &compiled{spec: sp, cron: c, fp: b.Schedule + "|UTC", backup: b})
		}
	}
	return ld
}

func internCron(crons map[string]*Cron, expr, tz string) (*Cron, error) {
	key := expr + "|" + tz
	if c, ok := crons[key]; ok {
		return c, nil
	}
	c, err := ParseCron(expr, tz)
	if err == nil {
		crons[key] = c
	}
	return c, err
}

// entry is a schedule in the leader's heap.
type entry struct {
	c      *compiled
	cursor time.Time // every tick at or before it is dealt with
	next   time.Time // its first tick after cursor: the heap key
	idx    int
}

// entryHeap is a min-heap of entries by next tick.
type entryHeap []*entry

func (h entryHeap) Len() int           { return len(h) }
func (h entryHeap) Less(i, j int) bool { return h[i].next.Before(h[j].next) }
func (h entryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}

// Push and Pop implement container/heap.Interface.
func (h *entryHeap) Push(x any) {
	e := x.(*entry)
	e.idx = len(*h)
	*h = append(*h, e)
}

// Pop removes the last element (container/heap moved the minimum there).
func (h *entryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}

// peek returns the entry due first, or nil.
func (h entryHeap) peek() *entry {
	if len(h) == 0 {
		return nil
	}
	return h[0]
}

// popDue removes and returns the entries due at or before now.
func (h *entryHeap) popDue(now time.Time) []*entry {
	var out []*entry
	for h.Len() > 0 && !(*h)[0].next.After(now) {
		out = append(out, heap.Pop(h).(*entry))
	}
	return out
}
