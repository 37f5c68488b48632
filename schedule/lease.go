package schedule

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Reasons a leader stops leading (context.Cause of its leadership context).
var (
	ErrLeaseExpired = errors.New("leader lease expired locally: could not renew it in time")
	ErrLeaseLost    = errors.New("leader lease is held by another beat")
	ErrSteppedDown  = errors.New("leader stepped down on request")
)

// lease is the leader lease in Redis, with its local validity on the
// monotonic clock.
//
// Redis lets the key expire ttl after it applied the last SET/PEXPIRE.
// The holder counts its validity from the moment it *sent* that command,
// which is earlier, and subtracts a margin for clock rate differences, so
// it stops firing before Redis lets a standby take the lease.
type lease struct {
	rdb    redis.UniversalClient
	k      keys
	id     string
	ttl    time.Duration
	margin time.Duration

	mu         sync.Mutex
	value      string // "<id>|<epoch>" while held
	epoch      int64
	since      time.Time // when the acquiring command was sent
	validUntil time.Time // carries the monotonic reading of time.Now
}

func newLease(rdb redis.UniversalClient, k keys, id string, ttl time.Duration) *lease {
	return &lease{rdb: rdb, k: k, id: id, ttl: ttl, margin: max(ttl/20, 10*time.Millisecond)}
}

// acquireResult is the outcome of one attempt to take the lease.
type acquireResult struct {
	held   bool
	holder string        // the current holder's value, when not held
	wait   time.Duration // until the holder's lease expires, when not held
}

// acquire tries to take the lease once.
func (l *lease) acquire(ctx context.Context, version string) (acquireResult, error) {
	host, _ := os.Hostname()
	sent := time.Now()
	ctx, cancel := context.WithTimeout(ctx, l.ttl/3)
	defer cancel()
	res, err := scriptAcquire.Run(ctx, l.rdb, []string{l.k.leader(), l.k.epoch(), l.k.leaderInfo()},
		l.id, l.ttl.Milliseconds(), host, os.Getpid(), sent.UnixMilli(), version).Slice()
	if err != nil {
		return acquireResult{}, fmt.Errorf("acquire beat lease %s: %w", l.k.leader(), err)
	}
	if len(res) != 3 {
		return acquireResult{}, fmt.Errorf("acquire beat lease %s: unexpected reply %v", l.k.leader(), res)
	}
	if toInt(res[0]) != 1 {
		return acquireResult{holder: fmt.Sprint(res[1]), wait: time.Duration(toInt(res[2])) * time.Millisecond}, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.value, l.epoch, l.since = fmt.Sprint(res[1]), toInt(res[2]), sent
	l.validUntil = sent.Add(l.ttl - l.margin)
	return acquireResult{held: true}, nil
}

// renew extends the lease. It returns ErrLeaseLost or ErrSteppedDown when
// the lease is gone (and forgets it), or the Redis error.
func (l *lease) renew(ctx context.Context) error {
	value, _, ok := l.token()
	if !ok {
		return ErrLeaseLost
	}
	sent := time.Now()
	ctx, cancel := context.WithDeadline(ctx, l.until())
	defer cancel()
	n, err := scriptRenew.Run(ctx, l.rdb, []string{l.k.leader(), l.k.stepdown()}, value, l.ttl.Milliseconds()).Int64()
	if err != nil {
		return fmt.Errorf("renew beat lease %s: %w", value, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch n {
	case 1:
		if l.value == value {
			l.validUntil = sent.Add(l.ttl - l.margin)
		}
		return nil
	case -1:
		l.value = ""
		return ErrSteppedDown
	}
	l.value = ""
	return ErrLeaseLost
}

// release gives the lease up (when still held) and forgets it.
func (l *lease) release(ctx context.Context) error {
	l.mu.Lock()
	value := l.value
	l.value = ""
	l.mu.Unlock()
	if value == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := scriptRelease.Run(ctx, l.rdb, []string{l.k.leader()}, value).Err(); err != nil {
		return fmt.Errorf("release beat lease %s: %w", value, err)
	}
	return nil
}

// drop forgets the lease locally (it is no longer valid).
func (l *lease) drop() {
	l.mu.Lock()
	l.value = ""
	l.mu.Unlock()
}

// token returns the lease value and epoch while the lease is valid.
func (l *lease) token() (value string, epoch int64, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.value == "" || !time.Now().Before(l.validUntil) {
		return "", 0, false
	}
	return l.value, l.epoch, true
}

// acquired is when the lease was taken (the acquiring command was sent).
func (l *lease) acquired() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.since
}

// until is the end of the local validity.
func (l *lease) until() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.validUntil
}

// valid reports whether the lease is held and locally valid.
func (l *lease) valid() bool {
	_, _, ok := l.token()
	return ok
}

func toInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case string:
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	}
	return 0
}
