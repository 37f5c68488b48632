package config

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// lockPoll is how often a waiting LockFile retries.
const lockPoll = 20 * time.Millisecond

// LockFile takes the registry lock of cl.yaml at path: an exclusive flock
// on the directory holding it (holding its target, when path is a
// symlink), waiting while another cl holds it, until ctx ends. Every edit
// of cl.yaml (host add/update/remove, discover --add, config edit) and its
// commit run under it, so edits by concurrent cl processes happen one
// after the other and none is lost.
//
// The directory, not the file, is locked because edits replace the file by
// rename; locking the directory needs no lock file in the work tree and
// works outside git. The kernel drops the lock when the process ends, so a
// killed cl leaves no stale lock. Call unlock once the edit is written
// (and committed).
func LockFile(ctx context.Context, path string) (unlock func(), err error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w: create one with `cl config init`", path, ErrNotFound)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	d, err := os.Open(filepath.Dir(real))
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := flockWait(ctx, d, path); err != nil {
		d.Close()
		return nil, err
	}
	return func() { d.Close() }, nil // closing the directory releases the flock
}

func flockWait(ctx context.Context, f *os.File, path string) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			return fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("lock %s: another cl is editing it: %w (try again when it is done)", path, ctx.Err())
		case <-time.After(lockPoll):
		}
	}
}
