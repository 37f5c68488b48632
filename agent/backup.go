package agent

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/celeroot/celeroot/cluster"
	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/reconcile"
)

// BeforeApply runs under the deploy lock before an apply changes anything;
// its error refuses the apply.
type BeforeApply func(ctx context.Context, rev *reconcile.Revision) error

// BackupBeforeApply is the BeforeApply of redis.backup.before_apply: when
// the revision being applied turns it on, a cluster backup (its
// configuration from the commit's tree, the namespace's keys) goes into
// redis.backup.directory, keeping redis.backup.keep. A backup that cannot
// be written refuses the apply.
func BackupBeforeApply(q *queue.Queue, trees Trees, log *slog.Logger) BeforeApply {
	return func(ctx context.Context, rev *reconcile.Revision) error {
		b := rev.Config.Redis.Backup
		if !b.BeforeApply {
			return nil
		}
		fsys, _, err := trees.ReadTree(ctx, rev.SHA)
		if err != nil {
			return fmt.Errorf("backup before apply: %w", err)
		}
		// The state saved is the one before the apply; the configuration
		// is the one being applied (its HEAD is in the backup's header).
		res, err := cluster.SaveAuto(ctx, cluster.Source{Queue: q, Config: fsys, Head: rev.SHA}, b.Directory, b.Keep, time.Now())
		if err != nil {
			return fmt.Errorf("backup before apply (redis.backup.before_apply): %w: fix it or set before_apply: false", err)
		}
		if log != nil {
			log.Info("backup before apply", "file", res.File, "keys", res.Keys, "applied", res.Applied)
		}
		return nil
	}
}
