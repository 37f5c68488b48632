package config

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// editor writes a shell script that edits "$1" and returns its path.
func editor(t *testing.T, script string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ed.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestEditKeepsRejectedCopyOutsideTheWorkTree: an invalid edit leaves
// cl.yaml and its directory as they were, keeps the edited copy (0600) in
// the rejected directory, names it, and lists the problems only when no
// Retry has shown them.
func TestEditKeepsRejectedCopyOutsideTheWorkTree(t *testing.T) {
	path := writeProject(t, registryFixture, testModules)
	before, _ := os.ReadFile(path)
	ed := editor(t, `sed -i 's/role: db/role: nosuch/' "$1"`)
	for _, withRetry := range []bool{true, false} {
		rejected := filepath.Join(t.TempDir(), "state", "rejected")
		shown := 0
		o := EditOptions{Load: Options{Path: path}, Editor: ed, RejectedDir: rejected}
		if withRetry {
			o.Retry = func(d Diagnostics) bool {
				shown++
				return false
			}
		}
		_, err := Edit(context.Background(), o)
		if err == nil {
			t.Fatal("invalid edit accepted")
		}
		msg := err.Error()
		if n := strings.Count(msg, `unknown role "nosuch"`); withRetry && (n != 0 || shown != 1) || !withRetry && n != 1 {
			t.Fatalf("retry=%v: problems shown %d times by Retry, %d in the error:\n%s", withRetry, shown, n, msg)
		}
		kept, _ := filepath.Glob(filepath.Join(rejected, "cl.yaml.rejected-*"))
		if len(kept) != 1 || !strings.Contains(msg, kept[0]) {
			t.Fatalf("retry=%v: kept %v; error:\n%s", withRetry, kept, msg)
		}
		if st, _ := os.Stat(kept[0]); st.Mode().Perm() != 0o600 {
			t.Fatalf("rejected copy mode %v, want 0600", st.Mode().Perm())
		}
		if data, _ := os.ReadFile(kept[0]); !strings.Contains(string(data), "role: nosuch") {
			t.Fatalf("rejected copy is not the edit:\n%s", data)
		}
		if st, _ := os.Stat(rejected); st.Mode().Perm() != 0o700 {
			t.Fatalf("rejected dir mode %v, want 0700", st.Mode().Perm())
		}
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Fatal("invalid edit changed cl.yaml")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	for _, e := range entries {
		if e.Name() != "cl.yaml" && e.Name() != "tasks" {
			t.Fatalf("left in the work tree: %s", e.Name())
		}
	}
}

// TestEditRefusesToUndoAChangeMadeMeanwhile: when cl.yaml changes while
// the editor is open, the edit is not written (that would undo the
// change); the edited copy is kept and named.
func TestEditRefusesToUndoAChangeMadeMeanwhile(t *testing.T) {
	path := writeProject(t, registryFixture, testModules)
	// The "editor" changes its copy and, like another cl, cl.yaml itself.
	ed := editor(t, `sed -i 's/tier: gold/tier: silver/' "$1"; sed -i 's/backup: required/backup: optional/' "`+path+`"`)
	rejected := t.TempDir()
	_, err := Edit(context.Background(), EditOptions{Load: Options{Path: path}, Editor: ed, RejectedDir: rejected})
	if err == nil || !strings.Contains(err.Error(), "was changed by someone else while you edited it") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("got %v", err)
	}
	data, _ := os.ReadFile(path)
	if !strings.Contains(string(data), "backup: optional") || !strings.Contains(string(data), "tier: gold") {
		t.Fatalf("the other change was undone:\n%s", data)
	}
	kept, _ := filepath.Glob(filepath.Join(rejected, "cl.yaml.rejected-*"))
	if len(kept) != 1 || !strings.Contains(err.Error(), kept[0]) {
		t.Fatalf("kept %v; error %v", kept, err)
	}
}

func TestRejectedDirFollowsXDGStateHome(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/var/tmp/st")
	if got := RejectedDir(); got != "/var/tmp/st/celeroot/rejected" {
		t.Fatalf("got %s", got)
	}
	t.Setenv("XDG_STATE_HOME", "relative") // ignored, as the XDG spec says
	t.Setenv("HOME", "/home/u")
	if got := RejectedDir(); got != "/home/u/.local/state/celeroot/rejected" {
		t.Fatalf("got %s", got)
	}
}
