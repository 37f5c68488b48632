package devfleet

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEnsureRepo(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "tasks"), 0o755)
	os.MkdirAll(filepath.Join(src, ".git"), 0o755)
	os.WriteFile(filepath.Join(src, ".git", "HEAD"), []byte("ref: refs/heads/x\n"), 0o644)
	os.WriteFile(filepath.Join(src, "cl.yaml"), []byte("cluster: {name: dev}\n"), 0o644)
	os.WriteFile(filepath.Join(src, "tasks", "run.sh"), []byte("#!/bin/sh\n"), 0o755)

	repo := filepath.Join(t.TempDir(), "repo")
	created, err := EnsureRepo(ctx, src, repo)
	if err != nil || !created {
		t.Fatalf("EnsureRepo on an absent dir: created %v, %v", created, err)
	}
	if fi, err := os.Stat(filepath.Join(repo, "tasks", "run.sh")); err != nil || fi.Mode().Perm()&0o100 == 0 {
		t.Fatalf("tasks/run.sh not copied with its x bit: %v %v", fi, err)
	}
	if head, _ := os.ReadFile(filepath.Join(repo, ".git", "HEAD")); !strings.Contains(string(head), "refs/heads/main") {
		t.Fatalf("the source's .git was copied or the branch is not main: HEAD %q", head)
	}
	// Reused as it is: a file written there survives.
	os.WriteFile(filepath.Join(repo, "mine"), []byte("x"), 0o644)
	if created, err := EnsureRepo(ctx, src, repo); err != nil || created {
		t.Fatalf("EnsureRepo on an existing repo: created %v, %v; want reused", created, err)
	}
	if _, err := os.Stat(filepath.Join(repo, "mine")); err != nil {
		t.Fatalf("reusing the repo touched its files: %v", err)
	}
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "x"), []byte("x"), 0o644)
	if _, err := EnsureRepo(ctx, src, other); err == nil || !strings.Contains(err.Error(), "not empty and not a git work tree") {
		t.Fatalf("EnsureRepo on a non-empty non-git dir: %v", err)
	}
}
