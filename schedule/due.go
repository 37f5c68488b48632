package schedule

import (
	"errors"
	"fmt"
	"time"
)

// Catchup modes of a schedule (schedules.<name>.catchup).
const (
	CatchupNone = "none" // missed ticks are skipped
	CatchupOnce = "once" // the latest missed tick fires once, within the starting deadline
)

// duePolicy says which past ticks of a schedule still fire.
//
// A tick is late, and fires, when it is at most min(Late, Deadline) old:
// Late is the beat's failover window (twice the lease by default), so the
// ticks that fell into a leader change are fired by the new leader, each
// once. Older ticks were missed (no beat ran): with catchup none they are
// skipped; with once the latest of them fires if it is at most Deadline old
// and the others are skipped.
type duePolicy struct {
	Late     time.Duration
	Deadline time.Duration
	Catchup  string
}

// dueResult is what dueTicks decided for one schedule.
type dueResult struct {
	Fire    []time.Time // in order
	Skipped int         // ticks skipped (at least; very old ones are not counted)
	Next    time.Time   // the first tick after the horizon
}

// dueTicks returns the ticks of c in (cursor, horizon] that fire, by p, and
// the next tick (zero when the expression never ticks again). horizon is at
// or after now: ticks between now and the horizon are not due yet and fire
// (the beat claims them a little ahead and enqueues at their time).
func dueTicks(c *Cron, cursor, now, horizon time.Time, p duePolicy) (dueResult, error) {
	var res dueResult
	limit := min(p.Late, p.Deadline)
	from := cursor
	// Ticks older than both windows never fire: do not walk them one by one
	// (a seconds schedule after a day without beat would be 86,400 steps).
	if oldest := now.Add(-max(limit, p.Deadline) - time.Second); from.Before(oldest) {
		from = oldest
	}
	t, err := c.Next(from)
	var missed time.Time
	for ; err == nil && !t.After(horizon); t, err = c.Next(t) {
		switch age := now.Sub(t); {
		case age <= limit:
			res.Fire = append(res.Fire, t)
		case p.Catchup != CatchupNone && age <= p.Deadline:
			if !missed.IsZero() {
				res.Skipped++
			}
			missed = t
		default:
			res.Skipped++
		}
	}
	if !missed.IsZero() {
		res.Fire = append([]time.Time{missed}, res.Fire...)
	}
	switch {
	case err == nil:
		res.Next = t
	case !errors.Is(err, ErrNoTick):
		return res, fmt.Errorf("due ticks after %s: %w", from.Format(time.RFC3339), err)
	}
	return res, nil // Next stays zero when the expression never ticks again
}
