package schedule

import (
	"context"
	"encoding/json"
	"time"
)

// sweep finishes fires that were claimed but not recorded: by a leader that
// died or lost its lease mid fan-out, or by this one after Redis errors.
// Fires past their starting deadline are recorded as abandoned.
func (f *fanout) sweep(ctx context.Context) {
	octx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	keys, err := f.b.st.Firing(octx, 1000)
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
	state, raw, err := f.b.st.FireState(ctx, key)
	if err != nil {
		f.b.log.Warn("sweep fire", "key", key, "err", err)
		return
	}
	var plan firePlan
	if state != "firing" || json.Unmarshal([]byte(raw), &plan) != nil {
		_ = f.b.st.Unfire(ctx, key) // expired, done, or unreadable
		return
	}
	if time.Since(plan.tick()) > time.Duration(plan.DeadlineMS)*time.Millisecond+f.b.opt.LateWindow {
		rec := FireRecord{Schedule: plan.Schedule, Tick: plan.tick(), Beat: f.b.opt.ID, DoneAt: time.Now(), Hosts: len(plan.Hosts),
			Errors: len(plan.Hosts), Error: "abandoned: not finished within the starting deadline", Recovered: true}
		f.recordBatch([]doneRec{{key, &rec}})
		return
	}
	f.b.log.Info("finishing a fire claimed earlier", "schedule", plan.Schedule, "tick", plan.tick())
	f.start([]pending{{key: key, plan: &plan, recovered: true}})
}
