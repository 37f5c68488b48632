package deploy

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/queue/queuetest"
)

// lockBackends are the Redis servers the lock tests run against: the
// embedded one always, redis-server when installed.
func lockBackends(t *testing.T) map[string]queuetest.NewQueue {
	out := map[string]queuetest.NewQueue{"miniredis": queuetest.Opener(queuetest.StartMiniredis(t))}
	if _, err := exec.LookPath("redis-server"); err == nil {
		out["redis-server"] = queuetest.Opener(queuetest.StartRedis(t).URL())
	}
	return out
}

func TestLock(t *testing.T) {
	for name, newQueue := range lockBackends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			q := newQueue(t)
			l, err := AcquireLock(ctx, q, LockInfo{Version: "abc", Command: "cl host deploy --all"})
			if err != nil {
				t.Fatal(err)
			}
			if l.Info.Epoch < 1 || l.Info.Holder == "" || l.Info.Started.IsZero() {
				t.Fatalf("held lock info %+v: want epoch, holder and start", l.Info)
			}
			_, err = AcquireLock(ctx, q, LockInfo{Version: "def"})
			var le *LockedError
			if !errors.Is(err, ErrLocked) || !errors.As(err, &le) || le.Info.ID != l.Info.ID || !strings.Contains(err.Error(), "--force-unlock "+l.Info.ID) {
				t.Fatalf("second acquire: %v", err)
			}
			if info, _, err := ReadLock(ctx, q); err != nil || info.Command != "cl host deploy --all" || info.Holder == "" || info.Version != "abc" {
				t.Fatalf("read: %+v %v", info, err)
			}
			if _, err := ForceUnlock(ctx, q, "wrong"); err == nil {
				t.Fatal("force-unlock with a wrong id cleared the lock")
			}
			if err := l.Release(ctx); err != nil {
				t.Fatal(err)
			}
			if info, _, _ := ReadLock(ctx, q); info != nil {
				t.Fatalf("still locked: %+v", info)
			}
			// A stale lock (its holder died) is cleared by id.
			stale, err := AcquireLock(ctx, q, LockInfo{})
			if err != nil {
				t.Fatal(err)
			}
			stale.lease.Drop() // the holder "dies": no renewal, no release
			info, err := ForceUnlock(ctx, q, stale.Info.ID)
			if err != nil || info.ID != stale.Info.ID {
				t.Fatalf("force-unlock: %+v %v", info, err)
			}
			l2, err := AcquireLock(ctx, q, LockInfo{})
			if err != nil {
				t.Fatalf("after force-unlock: %v", err)
			}
			if l2.Info.Epoch <= stale.Info.Epoch {
				t.Errorf("epoch %d after %d: the fencing token must grow", l2.Info.Epoch, stale.Info.Epoch)
			}
			// Another namespace is another lock.
			l3, err := AcquireLock(ctx, newQueue(t), LockInfo{})
			if err != nil {
				t.Fatal(err)
			}
			l2.Release(ctx)
			l3.Release(ctx)
			if ttl := LockTTL; ttl < 10*time.Second {
				t.Fatalf("lock ttl %v", ttl)
			}
		})
	}
}

// TestLockedStopsWhenLockLost: fn's context ends the moment the lock is
// lost (here force-unlocked by an operator while fn runs), and Locked's
// error says the lock was lost.
func TestLockedStopsWhenLockLost(t *testing.T) {
	defer func(d time.Duration) { lockTTL = d }(lockTTL)
	lockTTL = 600 * time.Millisecond
	for name, newQueue := range lockBackends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			q := newQueue(t)
			var cause error
			err := Locked(ctx, q, LockInfo{Command: "cl host add web01"}, func(ctx context.Context, held LockInfo) error {
				if _, err := ForceUnlock(context.Background(), q, held.ID); err != nil {
					t.Errorf("force-unlock: %v", err)
				}
				select {
				case <-ctx.Done():
					cause = context.Cause(ctx)
					return ctx.Err()
				case <-time.After(10 * lockTTL):
					return errors.New("fn ran on without the lock")
				}
			})
			if !errors.Is(cause, ErrLockLost) {
				t.Fatalf("fn's context cause = %v, want ErrLockLost", cause)
			}
			if err == nil || !strings.Contains(err.Error(), "lock was lost") {
				t.Fatalf("Locked = %v, want an error saying the lock was lost", err)
			}
			// The lock is free for the next command.
			if err := Locked(ctx, q, LockInfo{}, func(context.Context, LockInfo) error { return nil }); err != nil {
				t.Fatalf("next Locked: %v", err)
			}
		})
	}
}

// TestLockedHoldsAndReleases: fn runs under the lock (a second command is
// refused meanwhile) and the lock is released after fn, whatever fn returns.
func TestLockedHoldsAndReleases(t *testing.T) {
	q := queuetest.Opener(queuetest.StartMiniredis(t))(t)
	ctx := context.Background()
	boom := errors.New("boom")
	err := Locked(ctx, q, LockInfo{Version: "abc"}, func(ctx context.Context, held LockInfo) error {
		if err := Locked(ctx, q, LockInfo{}, func(context.Context, LockInfo) error { return nil }); !errors.Is(err, ErrLocked) {
			t.Errorf("nested Locked = %v, want ErrLocked", err)
		}
		if info, _, err := ReadLock(ctx, q); err != nil || info == nil || info.ID != held.ID {
			t.Errorf("lock during fn: %+v %v, want %s", info, err, held.ID)
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Locked = %v, want fn's error", err)
	}
	if info, _, err := ReadLock(ctx, q); err != nil || info != nil {
		t.Fatalf("after Locked: %+v %v, want free", info, err)
	}
	var _ Locker = (*queue.Queue)(nil)
	var _ LockAdmin = (*queue.Queue)(nil)
}
