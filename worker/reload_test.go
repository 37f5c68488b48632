package worker

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/celeroot/celeroot/config"
)

// copyRelease copies the fixture's tree to a new directory with edit
// applied to the named files' text.
func copyRelease(t *testing.T, from string, edit map[string]func(string) string) string {
	t.Helper()
	to := t.TempDir()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		text := string(b)
		if fn, ok := edit[rel]; ok {
			text = fn(text)
		}
		if err := os.MkdirAll(filepath.Join(to, filepath.Dir(rel)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), []byte(text), 0o755)
	})
	if err != nil {
		t.Fatal(err)
	}
	return to
}

// TestReloadOnSIGUSR1: a SIGUSR1 makes the worker serve the release its
// Reload returns — new runs run the new scripts from the new directory,
// the heartbeat reports the new SHA with a new start time and the same
// pid — and a release the worker cannot take as it is (another
// concurrency) is refused: it keeps serving the old one.
func TestReloadOnSIGUSR1(t *testing.T) {
	f := newFixture(t, roleOpts{})
	two := copyRelease(t, f.dir, map[string]func(string) string{
		"tasks/t/echo.sh": func(s string) string { return strings.Replace(s, "#!/bin/sh\n", "#!/bin/sh\necho release two\n", 1) },
	})
	three := copyRelease(t, f.dir, map[string]func(string) string{
		"cl.yaml": func(s string) string { return strings.Replace(s, "concurrency: 1", "concurrency: 2", 1) },
	})
	next := make(chan Release, 2)
	load := func(dir, sha string) Release {
		cfg, _, err := config.LoadValid(config.Options{Path: filepath.Join(dir, "cl.yaml")})
		if err != nil {
			t.Fatal(err)
		}
		return Release{Config: cfg, Dir: dir, SHA: sha}
	}
	f.start(func(o *Options) {
		o.Reload = func(context.Context) (Release, error) { return <-next, nil }
	})
	ctx := context.Background()
	var before struct {
		pid     int
		started time.Time
	}
	waitFor(t, 10*time.Second, "the first heartbeat", func() bool {
		hb, ok, _ := f.q.Worker(ctx, "h1")
		before.pid, before.started = hb.PID, hb.Started
		return ok && hb.SHA == "abc123" && hb.Reload
	})
	id := f.enqueue("echo", "t", map[string]any{"name": "one"}, nil)
	f.wait(10*time.Second, id)
	if log := f.logText(id); strings.Contains(log, "release two") || !strings.Contains(log, "release="+f.dir) {
		t.Fatalf("before the reload: %s", log)
	}

	next <- load(two, "def456")
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "a heartbeat of the reloaded release", func() bool {
		hb, _, _ := f.q.Worker(ctx, "h1")
		return hb.SHA == "def456" && hb.PID == before.pid && hb.Started.After(before.started)
	})
	id = f.enqueue("echo", "t", map[string]any{"name": "two"}, nil)
	f.wait(10*time.Second, id)
	if log := f.logText(id); !strings.Contains(log, "release two") || !strings.Contains(log, "release="+two) {
		t.Fatalf("after the reload, the run did not use the new release: %s", log)
	}

	next <- load(three, "0ff1ce")
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the refused reload to be taken", func() bool { return len(next) == 0 })
	time.Sleep(300 * time.Millisecond)
	if hb, _, _ := f.q.Worker(ctx, "h1"); hb.SHA != "def456" {
		t.Fatalf("a release with another concurrency was taken by a reload: heartbeat %+v", hb)
	}
}
