package deploy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/celeroot/celeroot/hostexec"
)

// fail records err and, when current may already point to the new
// release, switches the host back.
func (r *hostRun) fail(ctx context.Context, err error) {
	r.rep.Error = err.Error()
	if reason := hostexec.Reason(err); reason != "error" {
		r.rep.Reason = reason
	}
	interrupted := ctx.Err() != nil
	if !r.switched {
		r.rep.Outcome, r.rep.Current = OutcomeFailed, r.rep.From
		if interrupted {
			r.rep.Outcome = OutcomeCancelled
		}
		return
	}
	why := err.Error()
	if interrupted {
		why = "interrupted before the release was verified"
	}
	r.rep.LogTail = r.svc.logTail(context.WithoutCancel(ctx), r.r, logLines)
	r.rollback(context.WithoutCancel(ctx), why)
	if interrupted {
		r.rep.Outcome = OutcomeCancelled
	}
}

// rollback switches current back to the release it pointed to before,
// restarts the worker and waits for it to report that release again. A
// host that had no release before gets its worker stopped and current
// removed.
func (r *hostRun) rollback(ctx context.Context, reason string) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, rollbackTimeout+r.e.healthTimeout())
	defer cancel()
	r.e.emit(Event{Host: r.h.Name, Step: StepRollback, Status: StatusStart, Message: reason})
	rb := &Rollback{To: r.rep.From, Reason: reason}
	r.rep.Rollback = rb
	switched, err := r.switchBack(ctx)
	r.rep.Durations.add(StepRollback, time.Since(start))
	r.rep.Outcome = OutcomeRolledBack
	switch {
	case !switched:
		r.rep.Outcome, r.rep.Current = OutcomeFailed, "?"
	case r.rep.From == "":
		r.rep.Current = ""
	default:
		r.rep.Current = r.rep.From
	}
	if err != nil {
		rb.Error = err.Error()
		r.e.emit(Event{Host: r.h.Name, Step: StepRollback, Status: StatusFailed, Message: err.Error()})
		return
	}
	rb.Verified = true
	r.e.emit(Event{Host: r.h.Name, Step: StepRollback, Status: StatusOK, Message: "back on " + orNone(ShortVersion(r.rep.From))})
}

// switchBack reports whether current was switched back, and what went
// wrong.
func (r *hostRun) switchBack(ctx context.Context) (bool, error) {
	from := r.rep.From
	switch from {
	case r.rel.Version:
		return true, errors.New("the release was already current before this deploy: nothing to go back to")
	case "":
		if err := r.svc.stop(ctx, r.r, false); err != nil {
			return false, fmt.Errorf("stop the worker (no release to go back to): %w", err)
		}
		if err := r.r.callCheck(ctx, nil, 0, nil, "remove current", "deactivate", r.target()); err != nil {
			return false, err
		}
		return true, nil
	}
	ref := r.lastBeat(ctx)
	if err := r.switchTo(ctx, from); err != nil {
		return false, err
	}
	if err := r.waitHeartbeat(withTimeout(ctx, r.e.healthTimeout()), from, ref); err != nil {
		return true, fmt.Errorf("switched back to %s, but: %w", ShortVersion(from), err)
	}
	return true, nil
}

// withTimeout is context.WithTimeout for a context that lives as long as
// its parent (the cancel runs when the parent ends).
func withTimeout(ctx context.Context, d time.Duration) context.Context {
	c, cancel := context.WithTimeout(ctx, d)
	context.AfterFunc(ctx, cancel)
	return c
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
