package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// The deploy lock is one Redis key, <prefix>{deploy}:lock, holding a JSON
// LockInfo with a TTL that the holder refreshes; a holder that died (cl
// killed) loses it when the TTL runs out, or an operator clears it with
// ForceUnlock.
const (
	LockTTL     = 20 * time.Second
	lockRefresh = LockTTL / 4
	lockOpTime  = 5 * time.Second
)

// ErrLocked is matched by the error of AcquireLock when another command holds
// the lock; the error is a *LockedError.
var ErrLocked = errors.New("the deploy lock is held")

// LockInfo says who holds the deploy lock.
type LockInfo struct {
	ID      string    `json:"id"`
	Holder  string    `json:"holder"` // user@machine pid N
	Version string    `json:"version"`
	Command string    `json:"command"`
	Started time.Time `json:"started"`
}

// LockedError is ErrLocked with the holder.
type LockedError struct {
	Info LockInfo
	TTL  time.Duration
}

// Error is one line: who holds the lock, for what, since when, and the fix
// (`cl host deploy --force-unlock ID`, whichever command was refused). A
// holder without a release (`cl host add`, `cl host remove`) is described
// by its command line.
func (e *LockedError) Error() string {
	what := "is deploying " + ShortVersion(e.Info.Version)
	if e.Info.Version == "" {
		what = fmt.Sprintf("is running %q", e.Info.Command)
	}
	return fmt.Sprintf("%s: %s %s since %s (%s ago, lock id %s, expires in %s unless renewed): wait for it, or clear a stale lock with cl host deploy --force-unlock %s",
		ErrLocked, e.Info.Holder, what, e.Info.Started.Format(time.RFC3339),
		time.Since(e.Info.Started).Round(time.Second), e.Info.ID, e.TTL.Round(time.Second), e.Info.ID)
}

func (e *LockedError) Unwrap() error { return ErrLocked }

// LockKey is the lock's key under a namespace prefix (queue.Keys.Prefix).
func LockKey(prefix string) string { return prefix + "{deploy}:lock" }

// Holder describes this process: user@machine pid N.
func Holder() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	hn, _ := os.Hostname()
	return fmt.Sprintf("%s@%s pid %d", name, hn, os.Getpid())
}

// Lock is a held deploy lock, refreshed in the background until Release.
type Lock struct {
	rdb  redis.UniversalClient
	key  string
	Info LockInfo
	val  string
	stop chan struct{}
	done chan struct{}
	lost chan struct{}
	once sync.Once
}

var (
	refreshScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) end return 0`)
	releaseScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)
	forceScript   = redis.NewScript(`local v = redis.call("GET", KEYS[1]) if not v then return false end if cjson.decode(v).id == ARGV[1] then redis.call("DEL", KEYS[1]) end return v`)
)

// AcquireLock takes the deploy lock for info (ID, Started and Holder are
// filled when empty) or returns a *LockedError.
func AcquireLock(ctx context.Context, rdb redis.UniversalClient, prefix string, info LockInfo) (*Lock, error) {
	if info.ID == "" {
		info.ID = NewID()
	}
	if info.Started.IsZero() {
		info.Started = time.Now()
	}
	if info.Holder == "" {
		info.Holder = Holder()
	}
	b, _ := json.Marshal(info)
	key := LockKey(prefix)
	octx, cancel := context.WithTimeout(ctx, lockOpTime)
	defer cancel()
	ok, err := rdb.SetNX(octx, key, b, LockTTL).Result()
	if err != nil {
		return nil, fmt.Errorf("take the deploy lock %s: %w", key, err)
	}
	if !ok {
		cur, ttl, err := ReadLock(ctx, rdb, prefix)
		if err != nil {
			return nil, err
		}
		if cur == nil { // released in between: try once more
			return AcquireLock(ctx, rdb, prefix, info)
		}
		return nil, &LockedError{Info: *cur, TTL: ttl}
	}
	l := &Lock{rdb: rdb, key: key, Info: info, val: string(b), stop: make(chan struct{}), done: make(chan struct{}), lost: make(chan struct{})}
	go l.refresh()
	return l, nil
}

// Lost is closed when the lock could not be refreshed and may be taken by
// another deploy.
func (l *Lock) Lost() <-chan struct{} { return l.lost }

func (l *Lock) refresh() {
	defer close(l.done)
	t := time.NewTicker(lockRefresh)
	defer t.Stop()
	failedSince := time.Time{}
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), lockOpTime)
		n, err := refreshScript.Run(ctx, l.rdb, []string{l.key}, l.val, LockTTL.Milliseconds()).Int()
		cancel()
		switch {
		case err == nil && n == 1:
			failedSince = time.Time{}
			continue
		case err == nil: // gone or someone else's
		case failedSince.IsZero():
			failedSince = time.Now()
			continue
		case time.Since(failedSince) < LockTTL-lockRefresh:
			continue
		}
		l.once.Do(func() { close(l.lost) })
		return
	}
}

// Release stops refreshing and deletes the lock if it is still this one.
func (l *Lock) Release(ctx context.Context) error {
	select {
	case <-l.stop:
		return nil
	default:
		close(l.stop)
	}
	<-l.done
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lockOpTime)
	defer cancel()
	if err := releaseScript.Run(ctx, l.rdb, []string{l.key}, l.val).Err(); err != nil {
		return fmt.Errorf("release the deploy lock: %w", err)
	}
	return nil
}

// ReadLock returns the current holder (nil when unlocked) and the lock's
// remaining TTL.
func ReadLock(ctx context.Context, rdb redis.UniversalClient, prefix string) (*LockInfo, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, lockOpTime)
	defer cancel()
	key := LockKey(prefix)
	v, err := rdb.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read the deploy lock %s: %w", key, err)
	}
	var info LockInfo
	if err := json.Unmarshal([]byte(v), &info); err != nil {
		return nil, 0, fmt.Errorf("read the deploy lock %s: %w", key, err)
	}
	ttl, _ := rdb.PTTL(ctx, key).Result()
	return &info, ttl, nil
}

// ForceUnlock deletes the lock when its id is id, and returns what it
// held (nil when the lock was free). A lock with another id is left alone
// and returned with an error.
func ForceUnlock(ctx context.Context, rdb redis.UniversalClient, prefix, id string) (*LockInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, lockOpTime)
	defer cancel()
	v, err := forceScript.Run(ctx, rdb, []string{LockKey(prefix)}, id).Text()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("force-unlock %s: %w", id, err)
	}
	var info LockInfo
	if err := json.Unmarshal([]byte(v), &info); err != nil {
		return nil, fmt.Errorf("force-unlock %s: %w", id, err)
	}
	if info.ID != id {
		return &info, fmt.Errorf("force-unlock %s: the lock is held by id %s (%s), not %s: nothing cleared", id, info.ID, info.Holder, id)
	}
	return &info, nil
}
