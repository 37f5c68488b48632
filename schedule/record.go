package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/celeroot/celeroot/queue"
)

type doneRec struct {
	key string
	rec *FireRecord
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

// recordBatch stores outcomes: each fire key becomes done, leaves the
// firing set, and becomes its schedule's last fire. A fire whose record
// could not be written stays in the firing set; a sweep finishes it.
func (f *fanout) recordBatch(batch []doneRec) {
	done := make([]queue.FireDone, 0, len(batch))
	for _, d := range batch {
		raw, err := json.Marshal(d.rec)
		if err != nil {
			raw = []byte("{}")
		}
		done = append(done, queue.FireDone{Key: d.key, Schedule: d.rec.Schedule, Record: raw})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	errs, err := f.b.st.Done(ctx, done)
	for i, d := range batch {
		if err == nil {
			err = errs[i]
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
