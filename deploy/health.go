package deploy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/celeroot/celeroot/drift"
	"github.com/celeroot/celeroot/queue"
)

// Heartbeats reads worker heartbeats (queue.Queue implements it); the
// interface is drift's, which observes hosts.
type Heartbeats = drift.Heartbeats

// ErrUnhealthy is matched by health check failures.
var ErrUnhealthy = errors.New("unhealthy")

const (
	heartbeatPoll = 50 * time.Millisecond
	urlTimeout    = 2 * time.Second
)

// beat is a heartbeat as seen before a restart: the new worker must be a
// different process.
type beat struct {
	hb queue.Heartbeat
	ok bool
}

func (b beat) String() string {
	if !b.ok {
		return "no heartbeat"
	}
	return fmt.Sprintf("heartbeat of pid %d reports %s (sent %s ago)", b.hb.PID, ShortVersion(b.hb.SHA), time.Since(b.hb.Time).Round(time.Millisecond))
}

// fresh reports whether hb comes from a worker started after ref was seen.
func (b beat) fresh(hb queue.Heartbeat) bool {
	return !b.ok || hb.PID != b.hb.PID || hb.Started.After(b.hb.Started)
}

func (r *hostRun) lastBeat(ctx context.Context) beat {
	if r.e.Heartbeats == nil {
		return beat{}
	}
	hb, ok, err := r.e.Heartbeats.Worker(ctx, r.h.Name)
	if err != nil {
		return beat{}
	}
	return beat{hb, ok}
}

// waitHeartbeat waits until a worker started after ref heartbeats with
// version want.
func (r *hostRun) waitHeartbeat(ctx context.Context, want string, ref beat) error {
	if r.e.Heartbeats == nil {
		return fmt.Errorf("%w: no heartbeat source (Redis) to check %s against", ErrUnhealthy, r.h.Name)
	}
	t := time.NewTicker(heartbeatPoll)
	defer t.Stop()
	var last beat
	var lastErr error
	for {
		hb, ok, err := r.e.Heartbeats.Worker(ctx, r.h.Name)
		switch {
		case err != nil:
			lastErr = err
		case ok && hb.SHA == want && ref.fresh(hb):
			return nil
		case ok:
			last = beat{hb, true}
		}
		select {
		case <-ctx.Done():
			if ctx.Err() == context.DeadlineExceeded || errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
				msg := last.String()
				if lastErr != nil {
					msg += "; last Redis error: " + lastErr.Error()
				}
				return fmt.Errorf("%w: the worker did not report %s in time (%s)", ErrUnhealthy, ShortVersion(want), msg)
			}
			return ctx.Err()
		case <-t.C:
		}
	}
}

// waitURL waits until deployment.health_check_url answers 2xx with want in
// the body (the worker's health answer names its release) on the host: one
// command that retries on the host until the deadline.
func (r *hostRun) waitURL(ctx context.Context, want string) error {
	url := r.e.Config.Deployment.HealthCheckURL
	if url == "" {
		return nil
	}
	wait := time.Second
	if dl, ok := ctx.Deadline(); ok {
		wait = max(time.Until(dl)-urlTimeout, 0)
	}
	if err := r.svc.checkURL(ctx, r.r, url, want, wait); err != nil {
		if ctx.Err() != nil && ctx.Err() != context.DeadlineExceeded {
			return ctx.Err()
		}
		return fmt.Errorf("%w: health check %v", ErrUnhealthy, err)
	}
	return nil
}

// healthy waits, within deployment.health_timeout, for a heartbeat of the
// new release from a fresh worker and, at the same time, for the health
// URL to answer for it on the host.
func (r *hostRun) healthy(ctx context.Context, want string, ref beat) error {
	ctx, cancel := context.WithTimeout(ctx, r.e.healthTimeout())
	defer cancel()
	urlErr := make(chan error, 1)
	go func() { urlErr <- r.waitURL(ctx, want) }()
	if err := r.waitHeartbeat(ctx, want, ref); err != nil {
		cancel()
		<-urlErr
		return err
	}
	return <-urlErr
}
