package schedule

import (
	"fmt"
	"time"

	"github.com/adhocore/gronx"
)

// Next returns the next n fire times of expr strictly after after,
// evaluated in loc (wall-clock fields are matched in that zone).
func Next(expr string, loc *time.Location, after time.Time, n int) ([]time.Time, error) {
	if !gronx.IsValid(expr) {
		return nil, fmt.Errorf("invalid cron expression %q", expr)
	}
	out := make([]time.Time, 0, n)
	t := after.In(loc)
	for len(out) < n {
		next, err := gronx.NextTickAfter(expr, t, false)
		if err != nil {
			return out, fmt.Errorf("next tick of %q after %s: %w", expr, t.Format(time.RFC3339), err)
		}
		if !next.After(t) { // guard against a library that returns the reference
			t = t.Add(time.Second)
			continue
		}
		out = append(out, next)
		t = next
	}
	return out, nil
}
