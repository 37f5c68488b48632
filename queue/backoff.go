package queue

import (
	"context"
	"time"
)

// Backoff sleeps 100ms, 200ms, … up to 2s between failed Redis calls; its
// zero value starts at 100ms. Reset it with Backoff{} after a success.
type Backoff struct{ d time.Duration }

// Sleep waits for the next step; false when ctx ended first.
func (b *Backoff) Sleep(ctx context.Context) bool { return b.SleepOr(ctx, nil) }

// SleepOr is Sleep that also ends early (false) when stop is closed.
func (b *Backoff) SleepOr(ctx context.Context, stop <-chan struct{}) bool {
	b.d = min(max(2*b.d, 100*time.Millisecond), 2*time.Second)
	t := time.NewTimer(b.d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-stop:
		return false
	case <-t.C:
		return true
	}
}

// Sleep waits d, or less when ctx ends; it reports whether ctx is still
// live. It is the one context-aware sleep of the packages above queue
// (the beat, dispatch, the agent).
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
