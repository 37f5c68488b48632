package sync

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

func watchRepo(t *testing.T, dir string) <-chan struct{} {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch := make(chan struct{}, 16)
	if err := Watch(ctx, dir, func() { ch <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	return ch
}

func expectNotify(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(time.Second):
		t.Fatalf("%s: not noticed within 1s", what)
	}
}

func drain(ch <-chan struct{}) {
	for {
		select {
		case <-ch:
		case <-time.After(3 * WatchDebounce):
			return
		}
	}
}

// TestWatchNoticesCommits watches a work tree from a subdirectory: a
// commit is noticed within a second, on a new branch namespace too; an
// edit that is not committed calls nothing.
func TestWatchNoticesCommits(t *testing.T) {
	r := fleetRepo(t)
	r.commitAll("first")
	ch := watchRepo(t, filepath.Join(r.dir, "fleet"))

	r.write("fleet/cl.yaml", clYAML+"# edited\n", 0o644)
	select {
	case <-ch:
		t.Fatal("an uncommitted edit notified")
	case <-time.After(4 * WatchDebounce):
	}

	r.commitAll("second")
	expectNotify(t, ch, "a commit")
	drain(ch)

	r.git("checkout", "-q", "-b", "feature/x")
	expectNotify(t, ch, "a new branch")
	drain(ch)
	r.write("fleet/extra.txt", "x\n", 0o644)
	r.commitAll("on feature/x")
	expectNotify(t, ch, "a commit on feature/x")
}

// TestWatchBareRepo watches a bare repository that is pushed to.
func TestWatchBareRepo(t *testing.T) {
	r, _ := fleetWorkRepo(t)
	bare := filepath.Join(t.TempDir(), "fleet.git")
	r.git("init", "-q", "--bare", "-b", "main", bare)
	ch := watchRepo(t, bare)
	r.git("push", "-q", bare, "main")
	expectNotify(t, ch, "a push into a bare repository")
}

func TestWatchRefusesNonRepo(t *testing.T) {
	if err := Watch(context.Background(), t.TempDir(), func() {}); err == nil {
		t.Fatal("watching a directory outside any repository succeeded")
	}
}
