package schedule

import (
	"context"
	"time"

	"github.com/celeroot/celeroot/queue"
)

// BackupResult describes one snapshot (queue.Queue.Snapshot).
type BackupResult = queue.BackupResult

// RestoreResult describes a restore (queue.Queue.Restore).
type RestoreResult = queue.RestoreResult

// backupFire is the internal backup schedule's fire.
func (b *Beat) backupFire(ctx context.Context, spec *Backup, tick time.Time) (*BackupResult, error) {
	return b.q.Snapshot(ctx, spec.Directory, spec.Keep, tick)
}

// Snapshot writes every key of q's namespace to a snapshot file in dir,
// keeping the newest keep; see queue.Queue.Snapshot.
func Snapshot(ctx context.Context, q *queue.Queue, dir string, keep int, at time.Time) (*BackupResult, error) {
	return q.Snapshot(ctx, dir, keep, at)
}

// Restore loads a snapshot into q's namespace; see queue.Queue.Restore.
func Restore(ctx context.Context, q *queue.Queue, file string) (*RestoreResult, error) {
	return q.Restore(ctx, file)
}
