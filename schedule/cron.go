package schedule

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/adhocore/gronx"
)

// ErrNoTick is returned by Cron.Next when an expression never matches
// again (for example "0 0 30 2 *", or a year field in the past).
var ErrNoTick = errors.New("cron expression has no further tick")

// maxHops bounds the number of time zone transitions one Next call crosses.
const maxHops = 1000

// Cron is a cron expression bound to an IANA time zone.
//
// Fields are matched against the wall clock of the zone. gronx evaluates the
// expression on a wall-clock timeline without offsets (UTC), and Next maps
// each wall time back to an instant, handling daylight saving time the way
// Vixie cron and cronie do:
//
//   - A schedule whose minute and hour fields are both specific (not
//     starting with "*", e.g. "30 2 * * *" or "@daily") is a fixed-time
//     schedule. When its time falls into the hour skipped at spring-forward
//     it fires once, at the end of the gap (03:00 new time); in the hour
//     repeated at fall-back it fires only in the first pass.
//   - Any other schedule ("*/15 * * * *", "0 * * * *", seconds schedules)
//     follows real time: nothing matches in the skipped hour, and the
//     repeated hour is matched twice, so "every 15 minutes" stays every 15
//     real minutes.
type Cron struct {
	expr  string
	loc   *time.Location
	fixed bool
	// memo is the last Next call: schedules sharing an expression share a
	// Cron (see compile), and at a busy tick they all ask the same question.
	memo atomic.Pointer[cronMemo]
}

type cronMemo struct{ after, next time.Time }

// NewCron parses expr (five fields, an optional leading seconds field, an
// optional trailing year field, or a tag such as @daily) for zone loc.
func NewCron(expr string, loc *time.Location) (*Cron, error) {
	if loc == nil {
		loc = time.UTC
	}
	if !gronx.IsValid(expr) {
		return nil, fmt.Errorf("invalid cron expression %q", expr)
	}
	segs, err := gronx.Segments(expr)
	if err != nil || len(segs) < 3 {
		return nil, fmt.Errorf("invalid cron expression %q", expr)
	}
	// Segments normalises tags and prepends the seconds field; the fields
	// are seconds, minutes, hours, day, month, weekday[, year].
	wild := func(f string) bool { return strings.HasPrefix(f, "*") || f == "?" }
	return &Cron{expr: strings.Join(segs, " "), loc: loc, fixed: !wild(segs[1]) && !wild(segs[2])}, nil
}

// ParseCron is NewCron with the zone given by name ("" means UTC).
func ParseCron(expr, tz string) (*Cron, error) {
	loc, err := loadLocation(tz)
	if err != nil {
		return nil, err
	}
	return NewCron(expr, loc)
}

func loadLocation(tz string) (*time.Location, error) {
	if tz == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("load time zone %q: %w", tz, err)
	}
	return loc, nil
}

// Location returns the zone the expression is evaluated in.
func (c *Cron) Location() *time.Location { return c.loc }

// Fixed reports whether the schedule is a fixed-time one (see Cron).
func (c *Cron) Fixed() bool { return c.fixed }

// String returns the normalised expression (six or seven fields).
func (c *Cron) String() string { return c.expr }

// Next returns the first fire instant strictly after after, in the
// schedule's zone, or an error wrapping ErrNoTick. It is safe for
// concurrent use.
func (c *Cron) Next(after time.Time) (time.Time, error) {
	if m := c.memo.Load(); m != nil && m.after.Equal(after) {
		return m.next, nil
	}
	next, err := c.next(after)
	if err == nil {
		c.memo.Store(&cronMemo{after: after, next: next})
	}
	return next, err
}

func (c *Cron) next(after time.Time) (time.Time, error) {
	cur := after.In(c.loc)
	_, off := cur.Zone()
	wallFrom := wallAt(after, off)
	for range maxHops {
		_, off = cur.Zone()
		_, end := cur.ZoneBounds()
		w, err := c.wallNext(wallFrom)
		if err != nil {
			return time.Time{}, err
		}
		r := w.Add(-time.Duration(off) * time.Second)
		if end.IsZero() || r.Before(end) {
			return r.In(c.loc), nil
		}
		// The next wall tick lies beyond a change of the zone's offset.
		_, off2 := end.In(c.loc).Zone()
		oldWall, newWall := wallAt(end, off), wallAt(end, off2)
		start := newWall
		switch {
		case off2 > off && c.fixed: // spring forward: [oldWall, newWall) does not exist
			if g, err := c.wallNext(oldWall.Add(-time.Second)); err == nil && g.Before(newWall) {
				return end.In(c.loc), nil
			}
		case off2 < off && c.fixed: // fall back: [newWall, oldWall) repeats; fixed times ran already
			start = oldWall
		}
		wallFrom = start.Add(-time.Second)
		cur = end.In(c.loc)
	}
	return time.Time{}, fmt.Errorf("next tick of %q after %s: %w (more than %d zone changes)", c.expr, after.Format(time.RFC3339), ErrNoTick, maxHops)
}

// wallNext is gronx on the wall-clock timeline: the first wall time
// strictly after from (truncated to the second) that matches.
func (c *Cron) wallNext(from time.Time) (time.Time, error) {
	w, err := gronx.NextTickAfter(c.expr, from, false)
	if err != nil {
		return time.Time{}, fmt.Errorf("next tick of %q after %s: %w (%v)", c.expr, from.Format("2006-01-02 15:04:05"), ErrNoTick, err)
	}
	if !w.After(from.Truncate(time.Second)) {
		return time.Time{}, fmt.Errorf("next tick of %q after %s: %w (got %s)", c.expr, from.Format("2006-01-02 15:04:05"), ErrNoTick, w)
	}
	return w, nil
}

// wallAt returns the wall clock of instant t at UTC offset off (seconds) as
// a UTC time carrying those fields.
func wallAt(t time.Time, off int) time.Time {
	return t.UTC().Add(time.Duration(off) * time.Second)
}

// Next returns the next n fire times of expr strictly after after,
// evaluated in loc (wall-clock fields are matched in that zone; see Cron
// for daylight saving time).
func Next(expr string, loc *time.Location, after time.Time, n int) ([]time.Time, error) {
	c, err := NewCron(expr, loc)
	if err != nil {
		return nil, err
	}
	return c.NextN(after, n)
}

// NextN returns the next n fire times strictly after after.
func (c *Cron) NextN(after time.Time, n int) ([]time.Time, error) {
	out := make([]time.Time, 0, n)
	t := after
	for len(out) < n {
		next, err := c.Next(t)
		if err != nil {
			return out, err
		}
		out = append(out, next)
		t = next
	}
	return out, nil
}
