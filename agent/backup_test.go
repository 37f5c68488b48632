package agent

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/celeroot/celeroot/cluster"
	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/reconcile"
)

// dirTrees serves one directory as the tree of every commit.
type dirTrees struct{ dir string }

func (d dirTrees) ReadTree(context.Context, string) (fs.FS, time.Time, error) {
	return os.DirFS(d.dir), time.Now(), nil
}

// TestBackupBeforeApply: with redis.backup.before_apply on, every apply
// first writes a backup of the state before it (keeping redis.backup.keep);
// a backup that cannot be written refuses the apply.
func TestBackupBeforeApply(t *testing.T) {
	ctx := context.Background()
	a, src, revs, d := newTestAgent(t)
	q := a.Planner.Store.(reconcile.DocStore).Docs.(*queue.Queue)
	cfg := *revs.cfg
	dir := filepath.Join(t.TempDir(), "backups")
	cfg.Redis.Backup.BeforeApply, cfg.Redis.Backup.Directory, cfg.Redis.Backup.Keep = true, dir, 1
	revs.cfg = &cfg
	a.Before = BackupBeforeApply(q, dirTrees{"../examples/fleet"}, nil)

	src.head = sha('a')
	a.Sync(ctx)
	files, _ := filepath.Glob(filepath.Join(dir, "*"+cluster.Ext))
	if len(files) != 1 || d.calls != 1 {
		t.Fatalf("first apply: backups %v, %d deploys", files, d.calls)
	}
	b, err := cluster.Read(files[0])
	if err != nil || b.Header.Head != sha('a') || b.Header.State.Applied != "" || len(b.Files) < 2 {
		t.Fatalf("backup before the first apply: %+v %v", b, err)
	}
	time.Sleep(2 * time.Millisecond) // a later name
	src.head = sha('b')
	a.Sync(ctx)
	files, _ = filepath.Glob(filepath.Join(dir, "*"+cluster.Ext))
	if len(files) != 1 {
		t.Fatalf("keep 1: %v", files)
	}
	if b, err := cluster.Read(files[0]); err != nil || b.Header.State.Applied != sha('a') {
		t.Fatalf("backup before the second apply: %+v %v", b.Header, err)
	}

	// The directory is a file: no backup, no apply.
	blocked := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocked, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg2 := cfg
	cfg2.Redis.Backup.Directory = blocked
	revs.cfg = &cfg2
	src.head = sha('c')
	calls := d.calls
	a.Sync(ctx)
	if st, _ := a.Planner.Store.Load(ctx); st.SHA != sha('b') || d.calls != calls {
		t.Errorf("apply went on without its backup: applied %s, %d deploys", st.SHA, d.calls-calls)
	}
}
