package deploy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFromWorkTreeSubdirAndDirty(t *testing.T) {
	repo := newRepo(t, "cluster:\n  name: x\n", nil)
	// Move the config into a subdirectory: releases are that directory.
	repo.write("fleet/cl.yaml", "cluster:\n  name: x\n")
	repo.write("fleet/tasks/a.sh", "echo a\n")
	repo.write("other/ignored.txt", "not deployed\n")
	sha := repo.commit("fleet dir")
	path := filepath.Join(repo.dir, "fleet", "cl.yaml")
	rel, err := fromWorkTree(t, WorkTreeOptions{ConfigPath: path})
	if err != nil {
		t.Fatal(err)
	}
	if rel.Version != sha || rel.Subdir != "fleet" || rel.Dirty {
		t.Fatalf("release %+v", rel)
	}
	if _, ok := rel.Lookup("tasks/a.sh"); !ok {
		t.Fatal("tasks/a.sh missing")
	}
	if f, _ := rel.Lookup("tasks/a.sh"); f.Mode != ModeExec {
		t.Fatalf("mode %s", f.Mode)
	}
	if _, ok := rel.Lookup("other/ignored.txt"); ok {
		t.Fatal("file outside the config directory in the release")
	}

	// Changes outside the config directory do not make it dirty.
	repo.write("other/ignored.txt", "changed\n")
	if _, err := fromWorkTree(t, WorkTreeOptions{ConfigPath: path}); err != nil {
		t.Fatalf("change outside: %v", err)
	}
	// Inside they do.
	repo.write("fleet/tasks/a.sh", "echo A\n")
	repo.write("fleet/tasks/new.sh", "echo new\n")
	_, err = fromWorkTree(t, WorkTreeOptions{ConfigPath: path})
	if !errors.Is(err, ErrDirty) || !strings.Contains(err.Error(), "tasks/a.sh") || !strings.Contains(err.Error(), "--allow-dirty") {
		t.Fatalf("dirty refused? %v", err)
	}
	d1, err := fromWorkTree(t, WorkTreeOptions{ConfigPath: path, AllowDirty: true})
	if err != nil {
		t.Fatal(err)
	}
	if !d1.Dirty || !strings.HasPrefix(d1.Version, sha+"-dirty-") || len(d1.Version) != len(sha)+len("-dirty-")+12 {
		t.Fatalf("dirty version %q", d1.Version)
	}
	if f, _ := d1.Lookup("tasks/a.sh"); string(f.Data) != "echo A\n" {
		t.Fatalf("dirty content %q", f.Data)
	}
	if _, ok := d1.Lookup("tasks/new.sh"); !ok {
		t.Fatal("untracked file missing from the dirty release")
	}
	// Same changes, same version; other changes, another one.
	d2, _ := fromWorkTree(t, WorkTreeOptions{ConfigPath: path, AllowDirty: true})
	if d2.Version != d1.Version {
		t.Fatalf("versions differ for the same changes: %s %s", d1.Version, d2.Version)
	}
	os.Remove(filepath.Join(repo.dir, "fleet/tasks/new.sh"))
	d3, _ := fromWorkTree(t, WorkTreeOptions{ConfigPath: path, AllowDirty: true})
	if d3.Version == d1.Version {
		t.Fatal("different changes, same version")
	}
}

func TestReleaseRefusesEscapes(t *testing.T) {
	repo := newRepo(t, "cluster:\n  name: x\n", nil)
	if err := os.Symlink("/etc/passwd", filepath.Join(repo.dir, "evil")); err != nil {
		t.Fatal(err)
	}
	repo.commit("absolute link")
	if _, err := fromWorkTree(t, WorkTreeOptions{ConfigPath: repo.path}); !errors.Is(err, ErrUnsafePath) {
		t.Fatalf("absolute link: %v", err)
	}
	repo.git("rm", "-q", "evil")
	os.MkdirAll(filepath.Join(repo.dir, "d"), 0o755)
	os.Symlink("../../outside", filepath.Join(repo.dir, "d", "up"))
	repo.commit("escaping link")
	if _, err := fromWorkTree(t, WorkTreeOptions{ConfigPath: repo.path}); !errors.Is(err, ErrUnsafePath) {
		t.Fatalf("escaping link: %v", err)
	}
	repo.git("rm", "-q", "d/up")
	os.MkdirAll(filepath.Join(repo.dir, "d"), 0o755)
	if err := os.Symlink("../cl.yaml", filepath.Join(repo.dir, "d", "ok")); err != nil {
		t.Fatal(err)
	}
	repo.write("bin/cl", "not allowed")
	repo.commit("reserved")
	if _, err := fromWorkTree(t, WorkTreeOptions{ConfigPath: repo.path}); !errors.Is(err, ErrUnsafePath) || !strings.Contains(err.Error(), "reserved") {
		t.Fatalf("reserved path: %v", err)
	}
	repo.git("rm", "-q", "bin/cl")
	repo.commit("fine")
	rel, err := fromWorkTree(t, WorkTreeOptions{ConfigPath: repo.path})
	if err != nil {
		t.Fatal(err)
	}
	if f, ok := rel.Lookup("d/ok"); !ok || f.Mode != ModeSymlink || f.Target != "../cl.yaml" {
		t.Fatalf("link %+v", f)
	}
}

func TestNotGit(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "cl.yaml")
	os.WriteFile(p, []byte("cluster:\n  name: x\n"), 0o644)
	if _, err := fromWorkTree(t, WorkTreeOptions{ConfigPath: p}); !errors.Is(err, ErrNotGit) || !strings.Contains(err.Error(), "git init") {
		t.Fatalf("%v", err)
	}
}
