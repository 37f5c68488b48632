package sync

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInitCommit(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "tasks"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "cl.yaml"), []byte("cluster: {name: x}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "tasks", "a.sh"), []byte("#!/bin/sh\n"), 0o755)
	sha, err := InitCommit(context.Background(), dir, "first")
	if err != nil {
		t.Fatal(err)
	}
	// Real git agrees: branch main, HEAD is sha, nothing left uncommitted,
	// the script kept its x bit.
	r := &gitRepo{t: t, dir: dir}
	if got := r.git("rev-parse", "HEAD"); got != sha {
		t.Fatalf("HEAD %s, InitCommit said %s", got, sha)
	}
	if got := r.git("symbolic-ref", "--short", "HEAD"); got != "main" {
		t.Fatalf("branch %q, want main", got)
	}
	if got := r.git("status", "--porcelain"); got != "" {
		t.Fatalf("uncommitted after InitCommit: %q", got)
	}
	if got := r.git("ls-tree", "HEAD", "tasks/a.sh"); !strings.HasPrefix(got, "100755") {
		t.Fatalf("tasks/a.sh: %q, want mode 100755", got)
	}
	wt, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := wt.Branch(context.Background()); err != nil || b != "main" {
		t.Fatalf("Branch() = %q, %v; want main", b, err)
	}
	r.git("checkout", "-q", "--detach")
	if _, err := wt.Branch(context.Background()); err == nil || !strings.Contains(err.Error(), "detached") {
		t.Fatalf("Branch() on a detached HEAD: %v, want an error", err)
	}
	if _, err := InitCommit(context.Background(), dir, "again"); err == nil || !strings.Contains(err.Error(), "is a git repository already") {
		t.Fatalf("second InitCommit: %v, want refused", err)
	}
}
