package sync

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/celeroot/celeroot/config"
)

const clYAML = `cluster:
  name: t
hosts:
  web1: {role: web, address: 10.0.0.1}
workers:
  web:
    tasks: [webmod]
`

const webmod = `tasks:
  run:
    script: web/run.sh
`

func fleetRepo(t *testing.T) *gitRepo {
	r := newGitRepo(t)
	r.write("README.md", "outside the config directory\n", 0o644)
	r.write("fleet/cl.yaml", clYAML, 0o644)
	r.write("fleet/tasks/webmod.yaml", webmod, 0o644)
	r.write("fleet/tasks/lib/run.sh", "#!/bin/sh\necho hi\n", 0o755)
	if err := os.MkdirAll(filepath.Join(r.dir, "fleet/tasks/web"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../lib/run.sh", filepath.Join(r.dir, "fleet/tasks/web/run.sh")); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestTreeLoadsConfigAtCommit reads a subdirectory at an older commit
// (the work tree has moved on) and loads cl.yaml from it without a
// checkout.
func TestTreeLoadsConfigAtCommit(t *testing.T) {
	ctx := context.Background()
	r := fleetRepo(t)
	first := r.commitAll("first")
	r.write("fleet/cl.yaml", strings.Replace(clYAML, "name: t", "name: later", 1), 0o644)
	r.commitAll("second")

	w, err := Open(ctx, filepath.Join(r.dir, "fleet"))
	if err != nil {
		t.Fatal(err)
	}
	if w.Subdir() != "fleet" {
		t.Fatalf("subdir %q", w.Subdir())
	}
	head, err := w.Head(ctx)
	if err != nil || head != r.git("rev-parse", "HEAD") {
		t.Fatalf("head %s, %v", head, err)
	}
	if got, err := w.Resolve(ctx, "main~1"); err != nil || got != first {
		t.Fatalf("resolve main~1: %s, %v; want %s", got, err, first)
	}
	tree, err := w.Tree(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range tree.Files {
		paths = append(paths, f.Path)
	}
	if got := strings.Join(paths, ","); got != "cl.yaml,tasks/lib/run.sh,tasks/web/run.sh,tasks/webmod.yaml" {
		t.Fatalf("files %s", got)
	}
	if fi, err := fs.Lstat(tree, "tasks/web/run.sh"); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("lstat link: %v %v", fi, err)
	}
	if fi, err := fs.Stat(tree, "tasks/web/run.sh"); err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("stat through link: %v %v", fi, err)
	}
	if b, err := fs.ReadFile(tree, "tasks/web/run.sh"); err != nil || !strings.Contains(string(b), "echo hi") {
		t.Fatalf("read through link: %q %v", b, err)
	}
	cfg, diags, err := config.Load(config.Options{FS: tree, Path: "cl.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	if diags.HasErrors() {
		t.Fatalf("diagnostics: %v", diags)
	}
	if cfg.Cluster.Name != "t" {
		t.Fatalf("cluster %q: read the wrong commit", cfg.Cluster.Name)
	}
	if _, ok := cfg.Modules.Get("webmod"); !ok {
		t.Fatal("tasks/webmod.yaml not loaded")
	}
}

func TestOpenOutsideGit(t *testing.T) {
	_, err := Open(context.Background(), t.TempDir())
	if !errors.Is(err, ErrNotGit) {
		t.Fatalf("want ErrNotGit, got %v", err)
	}
	hash, why, err := CommitFile(context.Background(), filepath.Join(t.TempDir(), "cl.yaml"), "m")
	if err != nil || hash != "" || why != "not in a git work tree" {
		t.Fatalf("CommitFile outside git: %q %q %v", hash, why, err)
	}
}

func TestChanges(t *testing.T) {
	ctx := context.Background()
	r := fleetRepo(t)
	r.write(".gitignore", "*.log\n", 0o644)
	r.commitAll("first")
	r.write("fleet/cl.yaml", clYAML+"# edited\n", 0o644)
	r.write("fleet/new.txt", "new\n", 0o644)
	r.write("fleet/debug.log", "ignored\n", 0o644)
	r.write("README.md", "outside\n", 0o644)
	if err := os.Remove(filepath.Join(r.dir, "fleet/tasks/lib/run.sh")); err != nil {
		t.Fatal(err)
	}
	w, err := Open(ctx, filepath.Join(r.dir, "fleet"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := w.Changes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s := strings.Join(got, ","); s != "cl.yaml,new.txt,tasks/lib/run.sh" {
		t.Fatalf("changes %s", s)
	}
}

func TestCanceledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Open(ctx, t.TempDir()); !errors.Is(err, context.Canceled) {
		t.Fatalf("Open with a canceled context: %v", err)
	}
}
