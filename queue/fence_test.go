package queue_test

import (
	"context"
	"errors"
	"os/exec"
	"testing"
	"time"

	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/queue/queuetest"
)

// The lease keys existing deployments rely on.
func TestLeaseKeys(t *testing.T) {
	k := queue.Namespace{Cluster: "c", Env: "e"}
	q, err := queue.New(queuetest.Client(queuetest.Opener(queuetest.StartMiniredis(t))(t)), k)
	if err != nil {
		t.Fatal(err)
	}
	if got := q.Keys().LeaseKey(queue.LeaseBeat); got != "cl:c:e:{beat}:leader" {
		t.Errorf("beat lease key %q", got)
	}
	if got := q.Keys().LeaseKey(queue.LeaseDeploy); got != "cl:c:e:{deploy}:lock" {
		t.Errorf("deploy lease key %q", got)
	}
}

func TestLease(t *testing.T) {
	backends := map[string]queuetest.NewQueue{"miniredis": queuetest.Opener(queuetest.StartMiniredis(t))}
	if _, err := exec.LookPath("redis-server"); err == nil {
		backends["redis-server"] = queuetest.Opener(queuetest.StartRedis(t).URL())
	}
	for name, newQueue := range backends {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			q := newQueue(t)
			ttl := 300 * time.Millisecond
			a, err := q.AcquireLease(ctx, queue.LeaseDeploy, queue.LeaseInfo{ID: "a", Command: "cl host deploy"}, ttl)
			if err != nil {
				t.Fatal(err)
			}
			if v, e, ok := a.Token(); !ok || v != "a|1" || e != 1 {
				t.Fatalf("token %q %d %v, want a|1 1 true", v, e, ok)
			}
			// Another holder is refused with the holder's info.
			_, err = q.AcquireLease(ctx, queue.LeaseDeploy, queue.LeaseInfo{ID: "b"}, ttl)
			var held *queue.LeaseHeldError
			if !errors.As(err, &held) || !errors.Is(err, queue.ErrLeaseHeld) || held.Holder.ID != "a" || held.Holder.Command != "cl host deploy" || held.TTL <= 0 {
				t.Fatalf("second holder: %v (%+v)", err, held)
			}
			// Renewal keeps it past its TTL.
			time.Sleep(2 * ttl)
			if _, _, ok := a.Token(); !ok {
				t.Fatalf("lease lapsed while renewed: %v", a.Cause())
			}
			info, left, err := q.ReadLease(ctx, queue.LeaseDeploy)
			if err != nil || info == nil || info.ID != "a" || info.Epoch != 1 || left <= 0 || info.Holder == "" {
				t.Fatalf("read: %+v %v %v", info, left, err)
			}
			// Stepping down ends it with ErrSteppedDown at the next renewal.
			if v, err := q.StepDown(ctx, queue.LeaseDeploy, time.Minute); err != nil || v != "a|1" {
				t.Fatalf("step down: %q %v", v, err)
			}
			waitLost(t, a, queue.ErrSteppedDown, ttl)
			// A new holding has a greater epoch; the same id takes it again.
			b, err := q.AcquireLease(ctx, queue.LeaseDeploy, queue.LeaseInfo{ID: "b"}, ttl)
			if err != nil {
				t.Fatal(err)
			}
			b2, err := q.AcquireLease(ctx, queue.LeaseDeploy, queue.LeaseInfo{ID: "b"}, ttl)
			if err != nil || b2.Info().Epoch <= b.Info().Epoch {
				t.Fatalf("re-acquire by its own id: %v, epoch %d after %d", err, b2.Info().Epoch, b.Info().Epoch)
			}
			// The first holding finds the value changed: taken.
			waitLost(t, b, queue.ErrLeaseTaken, ttl)
			// Force-unlock by id ends the holder's lease.
			if _, err := q.ForceUnlock(ctx, queue.LeaseDeploy, "nope"); err == nil {
				t.Fatal("force-unlock with a wrong id succeeded")
			}
			if got, err := q.ForceUnlock(ctx, queue.LeaseDeploy, "b"); err != nil || got.ID != "b" {
				t.Fatalf("force-unlock: %+v %v", got, err)
			}
			waitLost(t, b2, queue.ErrLeaseTaken, ttl)
			// Release frees it; a released lease's Release is a no-op.
			c, err := q.AcquireLease(ctx, queue.LeaseDeploy, queue.LeaseInfo{}, ttl)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Release(ctx); err != nil {
				t.Fatal(err)
			}
			if err := c.Release(ctx); err != nil {
				t.Fatal(err)
			}
			if info, _, err := q.ReadLease(ctx, queue.LeaseDeploy); err != nil || info != nil {
				t.Fatalf("after release: %+v %v", info, err)
			}
		})
	}
}

// TestLeaseExpiresLocallyWhenRedisIsGone: with Redis unreachable the
// holder stops (ErrLeaseExpired) before Redis would let another take it.
func TestLeaseExpiresLocallyWhenRedisIsGone(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("needs redis-server (Debian package redis-server)")
	}
	srv := queuetest.StartRedis(t)
	q := queuetest.Opener(srv.URL())(t, queue.WithOpTimeout(100*time.Millisecond))
	ttl := 400 * time.Millisecond
	l, err := q.AcquireLease(context.Background(), queue.LeaseBeat, queue.LeaseInfo{ID: "x"}, ttl)
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	start := time.Now()
	waitLost(t, l, queue.ErrLeaseExpired, 2*ttl)
	// Redis keeps the key ttl after the last renewal it applied, which was
	// before the stop; 100ms allow for timer latency on a busy machine.
	if d := time.Since(start); d > ttl+100*time.Millisecond {
		t.Errorf("lost after %v: want within the ttl %v", d, ttl)
	}
}

func waitLost(t *testing.T, l *queue.Lease, want error, within time.Duration) {
	t.Helper()
	select {
	case <-l.Lost():
		if !errors.Is(l.Cause(), want) {
			t.Fatalf("lost with %v, want %v", l.Cause(), want)
		}
		if _, _, ok := l.Token(); ok {
			t.Fatal("a lost lease still has a valid token")
		}
	case <-time.After(within + time.Second):
		t.Fatalf("lease not lost within %v (want %v)", within+time.Second, want)
	}
}
