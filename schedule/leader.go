package schedule

import (
	"context"
	"errors"
	"sync"
	"time"
)

// campaign tries for the lease until ctx ends; it leads whenever it holds it.
func (b *Beat) campaign(ctx context.Context) {
	var cooldown time.Time // after stepping down, let another beat take over first
	for ctx.Err() == nil {
		if wait := time.Until(cooldown); wait > 0 {
			b.waitStandby(ctx, wait, false)
			continue
		}
		res, err := b.l.acquire(ctx, b.opt.Version)
		switch {
		case err != nil:
			b.log.Warn("beat lease", "err", err)
			b.setRole(RoleStandby)
			b.waitStandby(ctx, min(b.opt.Lease/3, time.Second), false)
		case res.held:
			cause := b.lead(ctx)
			if errors.Is(cause, ErrSteppedDown) {
				cooldown = time.Now().Add(b.opt.Lease)
			}
		default:
			b.setRole(RoleStandby)
			b.log.Debug("standby", "leader", res.holder, "expires_in", res.wait)
			// Wake right after the holder's lease would expire, so that a
			// dead leader is replaced within one lease; a live one has
			// renewed by then and we wait again.
			b.waitStandby(ctx, min(res.wait+5*time.Millisecond, b.opt.Lease), true)
		}
	}
}

// waitStandby waits d, or less when a leader announces it released the
// lease (if wakeable).
func (b *Beat) waitStandby(ctx context.Context, d time.Duration, wakeable bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	var wake chan struct{}
	if wakeable {
		wake = b.wake
	}
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-wake:
	}
}

// lead fires schedules while the lease holds. It returns why it stopped.
func (b *Beat) lead(ctx context.Context) error {
	lctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	_, epoch, _ := b.l.token()
	b.log.Info("leading", "epoch", epoch, "since", b.l.acquired())
	b.setRole(RoleLeader)
	var wg sync.WaitGroup
	wg.Go(func() { b.keepLease(lctx, stop) })
	b.fireLoop(lctx)
	stop(context.Canceled)
	wg.Wait()
	cause := context.Cause(lctx)
	if ctx.Err() != nil { // shutting down: hand over at once
		b.fan.wait(5 * time.Second)
		if err := b.l.release(context.WithoutCancel(ctx)); err != nil {
			b.log.Warn("release lease", "err", err)
		} else {
			b.announce(context.WithoutCancel(ctx), "released "+b.opt.ID)
		}
		return ctx.Err()
	}
	// valid_until is when this beat stopped claiming (its local validity,
	// checked before every claim), whenever this line gets logged.
	b.log.Warn("stopped leading", "reason", cause, "valid_until", b.l.until())
	b.l.drop()
	if errors.Is(cause, ErrSteppedDown) {
		b.announce(ctx, "released "+b.opt.ID)
	}
	b.setRole(RoleStandby)
	return cause
}

// keepLease renews the lease every third of its time (sooner after an
// error) and ends the leadership the moment its local validity runs out,
// on the monotonic clock, whatever Redis calls are still hanging.
func (b *Beat) keepLease(ctx context.Context, stop context.CancelCauseFunc) {
	every := b.opt.Lease / 3
	renew := time.NewTimer(every)
	defer renew.Stop()
	for {
		expiry := time.NewTimer(time.Until(b.l.until()))
		select {
		case <-ctx.Done():
			expiry.Stop()
			return
		case <-expiry.C:
			stop(ErrLeaseExpired)
			return
		case <-renew.C:
		}
		expiry.Stop()
		err := b.l.renew(ctx)
		switch {
		case errors.Is(err, ErrLeaseLost), errors.Is(err, ErrSteppedDown):
			stop(err)
			return
		case err != nil:
			b.log.Warn("renew lease", "err", err, "valid_for", time.Until(b.l.until()).Round(time.Millisecond))
			renew.Reset(min(every, 250*time.Millisecond))
		default:
			renew.Reset(every)
		}
	}
}
