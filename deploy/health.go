package deploy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/celeroot/celeroot/deploy/supervise"
	"github.com/celeroot/celeroot/drift"
	"github.com/celeroot/celeroot/hostexec"
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
// the body (the worker's health answer names its release) on the host,
// retrying until the deadline.
func (r *hostRun) waitURL(ctx context.Context, want string) error {
	url := r.e.Config.Deployment.HealthCheckURL
	if url == "" {
		return nil
	}
	wait := time.Second
	if dl, ok := ctx.Deadline(); ok {
		wait = max(time.Until(dl)-urlTimeout, 0)
	}
	if err := r.checkURL(ctx, url, want, wait); err != nil {
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

// checkURL fetches url as the host sees it: through a TCP connection the
// host's sshd opens (a direct-tcpip channel on the deploy's connection: no
// process runs on the host), or, when the host does not forward TCP, with
// one command on the host that retries there (`cl supervise check`).
func (r *hostRun) checkURL(ctx context.Context, url, want string, wait time.Duration) error {
	d, ok := r.r.host.(hostexec.Dialer)
	if !ok {
		return r.svc.checkURL(ctx, r.r, url, want, wait)
	}
	fctx, refused := context.WithCancelCause(ctx)
	defer refused(nil)
	client := &http.Client{Transport: &http.Transport{
		Proxy:             nil,
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if errors.Is(err, hostexec.ErrForwardingRefused) {
				refused(err)
			}
			return c, err
		},
	}}
	defer client.CloseIdleConnections()
	_, err := supervise.WaitCheckWith(fctx, client, url, want, urlTimeout, wait)
	if errors.Is(context.Cause(fctx), hostexec.ErrForwardingRefused) && ctx.Err() == nil {
		return r.svc.checkURL(ctx, r.r, url, want, wait)
	}
	return err
}
