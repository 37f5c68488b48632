package deploy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/celeroot/celeroot/queue"
)

// The deploy lock is queue's fenced lease queue.LeaseDeploy
// (<prefix>{deploy}:lock, holding "<lock id>|<epoch>" with a TTL that the
// holder renews, its holder in <prefix>{deploy}:lock:info); a holder that
// died (cl killed) loses it when the TTL runs out, or an operator clears
// it with ForceUnlock.
const LockTTL = 20 * time.Second

// lockTTL is the TTL Lock takes the lease for (tests shorten it).
var lockTTL = LockTTL

// ErrLocked is matched by the error of Lock and Locked when another
// command holds the lock; the error is a *LockedError.
var ErrLocked = errors.New("the deploy lock is held")

// ErrLockLost is the cause of the context Locked hands to its function
// when the lock is lost (Redis unreachable for longer than the lock's
// validity, or the lock force-unlocked): the function must stop.
var ErrLockLost = errors.New("the deploy lock was lost (Redis unreachable, or force-unlocked)")

// Locker takes the deploy lock; *queue.Queue implements it.
type Locker interface {
	AcquireLease(ctx context.Context, n queue.LeaseName, info queue.LeaseInfo, ttl time.Duration) (*queue.Lease, error)
}

// LockAdmin reads and clears the deploy lock; *queue.Queue implements it.
type LockAdmin interface {
	ReadLease(ctx context.Context, n queue.LeaseName) (*queue.LeaseInfo, time.Duration, error)
	ForceUnlock(ctx context.Context, n queue.LeaseName, id string) (*queue.LeaseInfo, error)
}

// LockInfo says who holds the deploy lock.
type LockInfo struct {
	ID      string    `json:"id"`
	Holder  string    `json:"holder"` // user@machine pid N
	Version string    `json:"version"`
	Command string    `json:"command"`
	Started time.Time `json:"started"`
	Epoch   int64     `json:"epoch"` // fencing token of this holding
}

func lockInfo(li queue.LeaseInfo) LockInfo {
	return LockInfo{ID: li.ID, Holder: li.Holder, Version: li.Version, Command: li.Command, Started: li.Since, Epoch: li.Epoch}
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

// Lock is a held deploy lock, renewed in the background until Release.
type Lock struct {
	Info  LockInfo
	lease *queue.Lease
}

// AcquireLock takes the deploy lock for info (ID and Holder are filled when
// empty; Started and Epoch are set) or returns a *LockedError.
func AcquireLock(ctx context.Context, l Locker, info LockInfo) (*Lock, error) {
	lease, err := l.AcquireLease(ctx, queue.LeaseDeploy, queue.LeaseInfo{ID: info.ID, Holder: info.Holder, Version: info.Version, Command: info.Command}, lockTTL)
	var held *queue.LeaseHeldError
	if errors.As(err, &held) {
		return nil, &LockedError{Info: lockInfo(held.Holder), TTL: held.TTL}
	}
	if err != nil {
		return nil, fmt.Errorf("take the deploy lock: %w", err)
	}
	return &Lock{Info: lockInfo(lease.Info()), lease: lease}, nil
}

// Lost is closed when the lock could not be renewed and may be taken by
// another deploy, or was force-unlocked.
func (l *Lock) Lost() <-chan struct{} { return l.lease.Lost() }

// Release stops renewing and deletes the lock if it is still this one.
func (l *Lock) Release(ctx context.Context) error {
	if err := l.lease.Release(ctx); err != nil {
		return fmt.Errorf("release the deploy lock: %w", err)
	}
	return nil
}

// Locked is the one lock-held sequence of every command that changes
// hosts: it takes the deploy lock for info, runs fn with a context that is
// cancelled (cause ErrLockLost) the moment the lock is lost, and releases
// the lock. fn receives the held lock's info (its ID names the deploy). An
// error of fn after the lock was lost says so.
func Locked(ctx context.Context, l Locker, info LockInfo, fn func(ctx context.Context, held LockInfo) error) error {
	lock, err := AcquireLock(ctx, l, info)
	if err != nil {
		return err
	}
	defer lock.Release(ctx)
	fctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stopped := make(chan struct{})
	defer func() { <-stopped }()
	go func() {
		defer close(stopped)
		select {
		case <-lock.Lost():
			cancel(fmt.Errorf("%w: %v", ErrLockLost, lock.lease.Cause()))
		case <-fctx.Done():
		}
	}()
	err = fn(fctx, lock.Info)
	cancel(nil) // end the watcher before Release
	if cause := context.Cause(fctx); err != nil && errors.Is(cause, ErrLockLost) && !errors.Is(err, ErrLockLost) {
		return fmt.Errorf("%w (stopped: %v)", err, cause)
	}
	return err
}

// ReadLock returns the current holder (nil when unlocked) and the lock's
// remaining TTL.
func ReadLock(ctx context.Context, a LockAdmin) (*LockInfo, time.Duration, error) {
	li, ttl, err := a.ReadLease(ctx, queue.LeaseDeploy)
	if err != nil {
		return nil, 0, fmt.Errorf("read the deploy lock: %w", err)
	}
	if li == nil {
		return nil, 0, nil
	}
	info := lockInfo(*li)
	return &info, ttl, nil
}

// ForceUnlock deletes the lock when its id is id, and returns what it
// held (nil when the lock was free). A lock with another id is left alone
// and returned with an error.
func ForceUnlock(ctx context.Context, a LockAdmin, id string) (*LockInfo, error) {
	li, err := a.ForceUnlock(ctx, queue.LeaseDeploy, id)
	if li == nil {
		return nil, err
	}
	info := lockInfo(*li)
	if err != nil {
		return &info, fmt.Errorf("force-unlock %s: the lock is held by id %s (%s), not %s: nothing cleared", id, info.ID, info.Holder, id)
	}
	return &info, nil
}
