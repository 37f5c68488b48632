package deploy

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/celeroot/celeroot/queue/queuetest"
)

func lockClients(t *testing.T) map[string]redis.UniversalClient {
	mr := miniredis.RunT(t)
	out := map[string]redis.UniversalClient{"miniredis": redis.NewClient(&redis.Options{Addr: mr.Addr()})}
	if _, err := exec.LookPath("redis-server"); err == nil {
		srv := queuetest.StartRedis(t)
		out["redis-server"] = redis.NewClient(&redis.Options{Addr: srv.Addr()})
	}
	return out
}

func TestLock(t *testing.T) {
	for name, rdb := range lockClients(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			l, err := AcquireLock(ctx, rdb, "cl:t:default:", LockInfo{Version: "abc", Command: "cl host deploy --all"})
			if err != nil {
				t.Fatal(err)
			}
			_, err = AcquireLock(ctx, rdb, "cl:t:default:", LockInfo{Version: "def"})
			var le *LockedError
			if !errors.Is(err, ErrLocked) || !errors.As(err, &le) || le.Info.ID != l.Info.ID || !strings.Contains(err.Error(), "--force-unlock "+l.Info.ID) {
				t.Fatalf("second acquire: %v", err)
			}
			if info, _, err := ReadLock(ctx, rdb, "cl:t:default:"); err != nil || info.Command != "cl host deploy --all" || info.Holder == "" {
				t.Fatalf("read: %+v %v", info, err)
			}
			if _, err := ForceUnlock(ctx, rdb, "cl:t:default:", "wrong"); err == nil {
				t.Fatal("force-unlock with a wrong id cleared the lock")
			}
			if err := l.Release(ctx); err != nil {
				t.Fatal(err)
			}
			if info, _, _ := ReadLock(ctx, rdb, "cl:t:default:"); info != nil {
				t.Fatalf("still locked: %+v", info)
			}
			// A stale lock (its holder died) is cleared by id.
			stale, err := AcquireLock(ctx, rdb, "cl:t:default:", LockInfo{})
			if err != nil {
				t.Fatal(err)
			}
			close(stale.stop) // the holder "dies": no refresh, no release
			<-stale.done
			info, err := ForceUnlock(ctx, rdb, "cl:t:default:", stale.Info.ID)
			if err != nil || info.ID != stale.Info.ID {
				t.Fatalf("force-unlock: %+v %v", info, err)
			}
			l2, err := AcquireLock(ctx, rdb, "cl:t:default:", LockInfo{})
			if err != nil {
				t.Fatalf("after force-unlock: %v", err)
			}
			// Another namespace is another lock.
			l3, err := AcquireLock(ctx, rdb, "cl:t:staging:", LockInfo{})
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
