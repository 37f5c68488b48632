package sync

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCommitFileOnlyTheFile commits one file with an untracked file
// around, and refuses when another change is staged.
func TestCommitFileOnlyTheFile(t *testing.T) {
	ctx := context.Background()
	r := fleetRepo(t)
	r.commitAll("init")
	r.write("notes.txt", "untracked\n", 0o644)
	r.write("fleet/cl.yaml", clYAML+"# edited\n", 0o644)
	t.Setenv("GIT_AUTHOR_NAME", "Ada")
	t.Setenv("GIT_AUTHOR_EMAIL", "ada@example.com")
	hash, why, err := CommitFile(ctx, filepath.Join(r.dir, "fleet/cl.yaml"), "cl: edit")
	if err != nil || hash == "" {
		t.Fatalf("not committed: %q %v", why, err)
	}
	if head := r.git("rev-parse", "HEAD"); head != hash {
		t.Fatalf("HEAD %s, commit %s", head, hash)
	}
	if got := r.git("log", "-1", "--format=%s|%an|%ae"); got != "cl: edit|Ada|ada@example.com" {
		t.Fatalf("commit %q", got)
	}
	if files := r.git("show", "--name-only", "--format=", "HEAD"); files != "fleet/cl.yaml" {
		t.Fatalf("commit touched %q", files)
	}
	if st := r.git("status", "--porcelain"); st != "?? notes.txt" {
		t.Fatalf("status after commit: %q", st)
	}
	r.git("add", "notes.txt")
	r.write("fleet/cl.yaml", clYAML, 0o644)
	hash, why, err = CommitFile(ctx, filepath.Join(r.dir, "fleet/cl.yaml"), "cl: again")
	if err != nil || hash != "" || !strings.Contains(why, "notes.txt") {
		t.Fatalf("want not committed because notes.txt is staged, got %q %q %v", hash, why, err)
	}
}

// TestPrepareAdvance stores a commit on no branch, reads its tree, then
// moves the branch onto it; a branch that moved meanwhile is refused.
func TestPrepareAdvance(t *testing.T) {
	ctx := context.Background()
	r := fleetRepo(t)
	r.write("fleet/tasks/lib/tool.sh", "#!/bin/sh\n", 0o755)
	parent := r.commitAll("init")
	w, err := Open(ctx, filepath.Join(r.dir, "fleet"))
	if err != nil {
		t.Fatal(err)
	}
	content := []byte(clYAML + "# prepared\n")
	sha, err := w.Prepare(ctx, "cl.yaml", content, "cl: add host")
	if err != nil {
		t.Fatal(err)
	}
	if head := r.git("rev-parse", "HEAD"); head != parent {
		t.Fatal("Prepare moved the branch")
	}
	if got := r.git("show", sha+":fleet/cl.yaml"); got+"\n" != string(content) {
		t.Fatalf("prepared cl.yaml %q", got)
	}
	if got := r.git("ls-tree", sha, "fleet/tasks/lib/tool.sh"); !strings.HasPrefix(got, "100755") {
		t.Fatalf("executable bit lost: %q", got)
	}
	tree, err := w.Tree(ctx, sha)
	if err != nil || tree.Commit != sha {
		t.Fatalf("tree of the prepared commit: %v", err)
	}
	written := false
	write := func() error {
		written = true
		return os.WriteFile(filepath.Join(r.dir, "fleet/cl.yaml"), content, 0o644)
	}
	if err := w.Advance(ctx, parent, sha, "cl.yaml", write); err != nil {
		t.Fatal(err)
	}
	if !written || r.git("rev-parse", "main") != sha {
		t.Fatal("branch not moved or file not written")
	}
	if st := r.git("status", "--porcelain"); st != "" {
		t.Fatalf("work tree not clean after Advance: %q", st)
	}

	// The branch moved meanwhile: nothing is written.
	sha2, err := w.Prepare(ctx, "cl.yaml", []byte(clYAML), "cl: again")
	if err != nil {
		t.Fatal(err)
	}
	r.write("other.txt", "x\n", 0o644)
	r.commitAll("someone else")
	written = false
	err = w.Advance(ctx, sha, sha2, "cl.yaml", write)
	if err == nil || !strings.Contains(err.Error(), "moved meanwhile") || written {
		t.Fatalf("want refusal before writing, got %v (written %v)", err, written)
	}
}
