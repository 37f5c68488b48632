package schedule_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/queue/queuetest"
	"github.com/celeroot/celeroot/schedule"
)

func TestBackupRestore(t *testing.T) {
	newQueue := redisQueue(t)
	q := newQueue(t)
	ctx := context.Background()
	rdb := queuetest.Client(q)
	p := q.Keys().Prefix()
	id, _, err := q.Enqueue(ctx, &queue.Run{Task: "ping", Module: "builtin", Target: queue.HostQueue("h1")}, "k1")
	if err != nil {
		t.Fatal(err)
	}
	must(t, rdb.Set(ctx, p+"{x}:plain", "v", 0).Err())
	must(t, rdb.Set(ctx, p+"{x}:ttl", "v", time.Hour).Err())
	must(t, rdb.HSet(ctx, p+"{x}:hash", "a", "1", "b", "2").Err())
	must(t, rdb.Set(ctx, p+"{beat}:leader", "someone|1", time.Minute).Err()) // volatile: not backed up
	must(t, rdb.Set(ctx, "other:key", "not ours", 0).Err())

	dir := t.TempDir()
	var files []string
	for i := range 4 {
		res, err := schedule.Snapshot(ctx, q, dir, 2, time.Date(2026, 1, 1, 4, i, 0, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, res.File)
		if res.Keys < 5 {
			t.Errorf("snapshot has %d keys", res.Keys)
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(left) != 2 || left[1] != files[3] {
		t.Errorf("kept %v, want the 2 newest", left)
	}

	must(t, rdb.FlushDB(ctx).Err())
	res, err := schedule.Restore(ctx, q, files[3])
	if err != nil {
		t.Fatal(err)
	}
	if res.Keys < 5 {
		t.Errorf("restored %d keys", res.Keys)
	}
	if v := rdb.Get(ctx, p+"{x}:plain").Val(); v != "v" {
		t.Errorf("plain = %q", v)
	}
	if ttl := rdb.PTTL(ctx, p+"{x}:ttl").Val(); ttl <= 59*time.Minute || ttl > time.Hour {
		t.Errorf("ttl key has %v left", ttl)
	}
	if h := rdb.HGetAll(ctx, p+"{x}:hash").Val(); h["b"] != "2" {
		t.Errorf("hash = %v", h)
	}
	if n := rdb.Exists(ctx, p+"{beat}:leader", "other:key").Val(); n != 0 {
		t.Errorf("%d volatile or foreign keys restored", n)
	}
	r, err := q.Get(ctx, id)
	if err != nil || r.State != queue.StateQueued {
		t.Errorf("run after restore: %+v, %v", r, err)
	}
	if _, dup, err := q.Enqueue(ctx, &queue.Run{Task: "ping", Module: "builtin", Target: queue.HostQueue("h1")}, "k1"); err != nil || !dup {
		t.Errorf("idempotency key lost in the restore: dup=%v err=%v", dup, err)
	}

	other := newQueue(t)
	if _, err := schedule.Restore(ctx, other, files[3]); err == nil || !strings.Contains(err.Error(), "namespace") {
		t.Errorf("restore into another namespace: err = %v", err)
	}
	trunc := filepath.Join(dir, "truncated.clbackup.gz")
	b, _ := os.ReadFile(files[3])
	must(t, os.WriteFile(trunc, b[:len(b)/2], 0o600))
	if _, err := schedule.Restore(ctx, q, trunc); err == nil {
		t.Error("a truncated backup restored without error")
	}
}

func TestBackupScheduleFires(t *testing.T) {
	q := redisQueue(t)(t)
	dir := t.TempDir()
	set := testSet([]string{"h1"})
	set.Backup = &schedule.Backup{Schedule: "* * * * * *", Directory: dir, Keep: 2}
	fired := make(chan schedule.FireEvent, 10)
	a, _ := startBeat(t, q, set, schedule.Options{ID: "a", OnFire: func(ev schedule.FireEvent) { fired <- ev }})
	waitRole(t, a, schedule.RoleLeader, 3*time.Second)
	for range 3 {
		select {
		case ev := <-fired:
			if ev.Schedule != schedule.BackupName || ev.Err != nil {
				t.Fatalf("fire %+v", ev)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("backup schedule did not fire")
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.clbackup.gz"))
	if len(files) != 2 {
		t.Errorf("backups kept: %v", files)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
