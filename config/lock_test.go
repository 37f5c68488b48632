package config

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestApplyEditConcurrentEditsAreSerialised: edits running at once are
// applied one after the other: none is lost, each one's commit sees the
// file as that edit wrote it, and of two adds of one name exactly one
// fails, saying the other cl added it meanwhile.
func TestApplyEditConcurrentEditsAreSerialised(t *testing.T) {
	path := writeProject(t, registryFixture, testModules)
	const n = 8
	var (
		mu      sync.Mutex
		commits []string // host names, in commit order
		wg      sync.WaitGroup
		errs    = make([]error, n+2)
		start   = make(chan struct{})
	)
	commit := func(name string) CommitFunc {
		return func(ctx context.Context, p string) (string, string, error) {
			data, err := os.ReadFile(p)
			if err != nil {
				return "", "", err
			}
			cfg, _, err := Load(Options{Path: p, Content: data})
			if err != nil {
				return "", "", err
			}
			mu.Lock()
			defer mu.Unlock()
			if _, ok := cfg.Hosts.Get(name); !ok {
				return "", "", fmt.Errorf("commit of %s: the file lacks it", name)
			}
			// 2 fixture hosts, the ones committed before, and this one.
			if got := cfg.Hosts.Len(); got != 2+len(commits)+1 {
				return "", "", fmt.Errorf("commit of %s sees %d hosts, want %d: another edit interleaved", name, got, 2+len(commits)+1)
			}
			commits = append(commits, name)
			time.Sleep(5 * time.Millisecond) // a slow commit widens the window for interleaving
			return "h-" + name, "", nil
		}
	}
	for i := 0; i < n+2; i++ {
		name := fmt.Sprintf("web%d", 10+i)
		if i >= n {
			name = "dup"
		}
		wg.Add(1)
		go func(i int, name string) {
			defer wg.Done()
			<-start
			_, errs[i] = ApplyEdit(context.Background(), Options{Path: path}, func(b []byte) ([]byte, error) {
				return AddHost(b, HostSpec{Name: name, Role: "web"})
			}, commit(name))
		}(i, name)
	}
	close(start)
	wg.Wait()
	for i := 0; i < n; i++ {
		if errs[i] != nil {
			t.Errorf("add web%d: %v", 10+i, errs[i])
		}
	}
	dupErr := errs[n]
	if (errs[n] == nil) == (errs[n+1] == nil) {
		t.Fatalf("two adds of dup: want exactly one to fail, got %v and %v", errs[n], errs[n+1])
	}
	if dupErr == nil {
		dupErr = errs[n+1]
	}
	var exists *HostExistsError
	if !errors.As(dupErr, &exists) || !strings.Contains(dupErr.Error(), "host dup already exists") {
		t.Fatalf("same-name race: %v", dupErr)
	}
	if strings.Count(dupErr.Error(), "\n") != 0 {
		t.Fatalf("same-name error is not one line: %q", dupErr)
	}
	cfg, _, err := LoadValid(Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Hosts.Len(); got != 2+n+1 || len(commits) != n+1 {
		t.Fatalf("%d hosts, %d commits; want %d and %d (%v)", got, len(commits), 2+n+1, n+1, cfg.Hosts.Keys())
	}
}

// TestChangedMeanwhileSaysSo: an edit that would have worked on the file
// as the command found it, but fails on the file another cl changed,
// says the file changed meanwhile.
func TestChangedMeanwhileSaysSo(t *testing.T) {
	path := writeProject(t, registryFixture, testModules)
	calls := 0
	_, err := ApplyEdit(context.Background(), Options{Path: path}, func(b []byte) ([]byte, error) {
		calls++
		if calls == 1 { // another cl adds the host before this one gets the lock
			other, err := AddHost(b, HostSpec{Name: "web9", Role: "web"})
			if err != nil {
				return nil, err
			}
			if err := os.WriteFile(path, other, 0o644); err != nil {
				return nil, err
			}
		}
		return AddHost(b, HostSpec{Name: "web9", Role: "web"})
	}, nil)
	if err == nil || err.Error() != "host web9 already exists (added meanwhile by another cl): choose another name, or `cl host update web9`" {
		t.Fatalf("got %v", err)
	}
	_, err = ApplyEdit(context.Background(), Options{Path: path}, func(b []byte) ([]byte, error) {
		return AddHost(b, HostSpec{Name: "web9", Role: "web"})
	}, nil)
	if err == nil || !strings.Contains(err.Error(), "already exists (line ") {
		t.Fatalf("plain duplicate: got %v", err)
	}
}

// TestLockFileWaitsAndHonoursContext: a second lock of the same cl.yaml
// waits for the first (also through a symlink to it) and gives up when
// its context ends, with an error that says why.
func TestLockFileWaitsAndHonoursContext(t *testing.T) {
	path := writeProject(t, registryFixture, testModules)
	link := filepath.Join(t.TempDir(), "cl.yaml")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	unlock, err := LockFile(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := LockFile(ctx, link); err == nil || !strings.Contains(err.Error(), "another cl is editing it") {
		t.Fatalf("lock while held: %v", err)
	}
	got := make(chan error, 1)
	go func() {
		u, err := LockFile(context.Background(), link)
		if err == nil {
			u()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("second lock did not wait: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	unlock()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("second lock not granted after unlock")
	}
	if _, err := LockFile(context.Background(), filepath.Join(t.TempDir(), "cl.yaml")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing cl.yaml: %v", err)
	}
}

// TestEditWritesThroughSymlink: a cl.yaml that is a symlink stays one;
// the edit replaces its target, keeping the target's mode.
func TestEditWritesThroughSymlink(t *testing.T) {
	real := writeProject(t, registryFixture, testModules)
	if err := os.Chmod(real, 0o640); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(filepath.Dir(real), "link.yaml")
	if err := os.Symlink("cl.yaml", link); err != nil {
		t.Fatal(err)
	}
	if _, err := ApplyEdit(context.Background(), Options{Path: link}, func(b []byte) ([]byte, error) {
		return AddHost(b, HostSpec{Name: "web9", Role: "web"})
	}, nil); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(link)
	if err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("link replaced: %v %v", fi.Mode(), err)
	}
	data, _ := os.ReadFile(real)
	if !strings.Contains(string(data), "web9:") {
		t.Fatalf("target not edited:\n%s", data)
	}
	if st, _ := os.Stat(real); st.Mode().Perm() != 0o640 {
		t.Fatalf("target mode %v, want 0640", st.Mode().Perm())
	}
	dangling := filepath.Join(t.TempDir(), "cl.yaml")
	if err := os.Symlink("nowhere/cl.yaml", dangling); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(dangling, []byte("x"), 0o644); err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Fatalf("dangling link: %v", err)
	}
	if fi, _ := os.Lstat(dangling); fi.Mode()&os.ModeSymlink == 0 {
		t.Fatal("dangling link replaced")
	}
}

// TestRemoveLastHostKeepsTheBlankLineAfter: removing the last entry of
// hosts: leaves the blank line separating the next section.
func TestRemoveLastHostKeepsTheBlankLineAfter(t *testing.T) {
	for _, c := range []struct{ name, in, host, want string }{
		{"only host", "hosts:\n  web1:\n    role: web\n\nworkers:\n  web: {}\n", "web1",
			"hosts:\n\nworkers:\n  web: {}\n"},
		{"last, no gap before", "hosts:\n  web1:\n    role: web\n  web2:\n    role: web\n\n# roles\nworkers:\n", "web2",
			"hosts:\n  web1:\n    role: web\n\n# roles\nworkers:\n"},
		{"last, gap before", "hosts:\n  web1:\n    role: web\n\n  web2:\n    role: web\n\nworkers:\n", "web2",
			"hosts:\n  web1:\n    role: web\n\nworkers:\n"},
		{"first of two", "hosts:\n  web1:\n    role: web\n\n  web2:\n    role: web\n\nworkers:\n", "web1",
			"hosts:\n  web2:\n    role: web\n\nworkers:\n"},
		{"last in the file", "workers:\n  web: {}\nhosts:\n  web1:\n    role: web\n  web2:\n    role: web\n", "web2",
			"workers:\n  web: {}\nhosts:\n  web1:\n    role: web\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := RemoveHost([]byte(c.in), c.host)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != c.want {
				t.Fatalf("got:\n%q\nwant:\n%q", out, c.want)
			}
		})
	}
}
