package schedule

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/celeroot/celeroot/queue"
)

// campaign tries for the lease until ctx ends; it leads whenever it holds it.
func (b *Beat) campaign(ctx context.Context) {
	var cooldown time.Time // after stepping down, let another beat take over first
	for ctx.Err() == nil {
		if wait := time.Until(cooldown); wait > 0 {
			b.waitStandby(ctx, wait, false)
			continue
		}
		h, err := b.lq.AcquireLease(ctx, queue.LeaseBeat, queue.LeaseInfo{ID: b.opt.ID, Version: b.opt.Version}, b.opt.Lease)
		var held *queue.LeaseHeldError
		switch {
		case errors.As(err, &held):
			b.setRole(RoleStandby)
			b.log.Debug("standby", "leader", held.Holder.ID+"|"+strconv.FormatInt(held.Holder.Epoch, 10), "expires_in", held.TTL)
			// Wake right after the holder's lease would expire, so that a
			// dead leader is replaced within one lease; a live one has
			// renewed by then and we wait again.
			b.waitStandby(ctx, min(held.TTL+5*time.Millisecond, b.opt.Lease), true)
		case err != nil:
			b.log.Warn("beat lease", "err", err)
			b.setRole(RoleStandby)
			b.waitStandby(ctx, min(b.opt.Lease/3, time.Second), false)
		default:
			b.l.set(h)
			cause := b.lead(ctx, h)
			if errors.Is(cause, ErrSteppedDown) {
				cooldown = time.Now().Add(b.opt.Lease)
			}
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

// lead fires schedules while the lease h holds. It returns why it stopped.
func (b *Beat) lead(ctx context.Context, h *queue.Lease) error {
	lctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	b.log.Info("leading", "epoch", h.Info().Epoch, "since", h.Info().Since)
	b.setRole(RoleLeader)
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-h.Lost():
			stop(h.Cause())
		case <-lctx.Done():
		}
	})
	b.fireLoop(lctx)
	stop(context.Canceled)
	wg.Wait()
	cause := context.Cause(lctx)
	if ctx.Err() != nil { // shutting down: hand over at once
		b.fan.wait(5 * time.Second)
		if err := h.Release(context.WithoutCancel(ctx)); err != nil {
			b.log.Warn("release lease", "err", err)
		} else {
			b.announce(context.WithoutCancel(ctx), "released "+b.opt.ID)
		}
		return ctx.Err()
	}
	// valid_until is when this beat stopped claiming (its local validity,
	// checked before every claim), whenever this line gets logged.
	b.log.Warn("stopped leading", "reason", cause, "valid_until", h.Until())
	h.Drop()
	if errors.Is(cause, ErrSteppedDown) {
		b.announce(ctx, "released "+b.opt.ID)
	}
	b.setRole(RoleStandby)
	return cause
}
