package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

// gitCmd runs git in dir and returns its trimmed output.
func gitCmd(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestConcurrentHostAddsInOneRepo runs `cl host add --no-deploy` in
// separate processes at once in one git repository: every host lands in
// cl.yaml, each in its own commit under its own message adding exactly
// that host, the index stays sound, and of two adds of one name exactly
// one fails with a one-line error saying so.
func TestConcurrentHostAddsInOneRepo(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("needs git")
	}
	bin := clBinary(t)
	path := initProject(t)
	dir := filepath.Dir(path)
	gitCmd(t, dir, "init", "-q")
	gitCmd(t, dir, "add", "-A")
	gitCmd(t, dir, "commit", "-q", "-m", "init")

	const n = 8
	type result struct {
		name   string
		out    string
		failed bool
	}
	names := make([]string, 0, n+2)
	for i := 0; i < n; i++ {
		names = append(names, fmt.Sprintf("web%02d", i))
	}
	names = append(names, "dup", "dup")
	results := make([]result, len(names))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, name := range names {
		wg.Add(1)
		go func(i int, name string) {
			defer wg.Done()
			cmd := exec.Command(bin, "-c", path, "host", "add", name, "--role", "default", "--address", "10.0.0."+fmt.Sprint(i+10), "--no-deploy")
			cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com")
			<-start
			out, err := cmd.CombinedOutput()
			results[i] = result{name, string(out), err != nil}
		}(i, name)
	}
	close(start)
	wg.Wait()

	for _, r := range results[:n] {
		if r.failed || !strings.Contains(r.out, "committed ") {
			t.Errorf("add %s: %s", r.name, r.out)
		}
	}
	a, b := results[n], results[n+1]
	if a.failed == b.failed {
		t.Fatalf("two adds of dup: want exactly one to fail:\n%s\n%s", a.out, b.out)
	}
	loser := a
	if b.failed {
		loser = b
	}
	if !strings.Contains(loser.out, "host dup already exists") || strings.Count(strings.TrimSpace(loser.out), "\n") != 0 {
		t.Fatalf("same-name loser: want one line saying dup exists, got:\n%s", loser.out)
	}

	// One commit per successful add, newest first, each with its own
	// message and adding exactly its own host to cl.yaml.
	log := strings.Split(gitCmd(t, dir, "log", "--format=%H %s"), "\n")
	if len(log) != n+2 {
		t.Fatalf("want %d commits, got:\n%s", n+2, strings.Join(log, "\n"))
	}
	var committed []string
	for _, line := range log[:n+1] {
		sha, msg, _ := strings.Cut(line, " ")
		var host string
		if _, err := fmt.Sscanf(msg, "cl: add host %s (role default)", &host); err != nil {
			t.Fatalf("commit %s: unexpected message %q", sha, msg)
		}
		diff := gitCmd(t, dir, "diff", sha+"^", sha, "--", "cl.yaml")
		var added []string
		for _, l := range strings.Split(diff, "\n") {
			if strings.HasPrefix(l, "+  ") && strings.HasSuffix(l, ":") && !strings.HasPrefix(l, "+   ") {
				added = append(added, strings.TrimSuffix(strings.TrimPrefix(l, "+  "), ":"))
			}
		}
		if len(added) != 1 || added[0] != host {
			t.Fatalf("commit %q adds hosts %v:\n%s", msg, added, diff)
		}
		if files := gitCmd(t, dir, "show", "--format=", "--name-only", sha); files != "cl.yaml" {
			t.Fatalf("commit %q touches %q", msg, files)
		}
		committed = append(committed, host)
	}
	sort.Strings(committed)
	want := append(append([]string{}, names[:n]...), "dup")
	sort.Strings(want)
	if strings.Join(committed, " ") != strings.Join(want, " ") {
		t.Fatalf("committed hosts %v, want %v", committed, want)
	}
	out, _, code := cl(t, "-c", path, "host", "list")
	for _, h := range want {
		if code != 0 || !strings.Contains(out, h+" ") {
			t.Fatalf("host list lacks %s:\n%s", h, out)
		}
	}
	if st := gitCmd(t, dir, "status", "--porcelain"); st != "" {
		t.Fatalf("work tree not clean after the adds:\n%s", st)
	}
	gitCmd(t, dir, "fsck", "--no-progress")
}
