package supervise

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestPidfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "beat.pid")
	p, err := LockPidfile(path)
	if err != nil {
		t.Fatal(err)
	}
	var locked *LockedError
	if _, err := LockPidfile(path); !errors.As(err, &locked) || !errors.Is(err, ErrLocked) || locked.PID != os.Getpid() {
		t.Errorf("second lock: %v", err)
	}
	if held, _ := Held(path); !held {
		t.Error("pidfile not reported held")
	}
	if pid, err := ReadPid(path); err != nil || pid != os.Getpid() {
		t.Errorf("pid %d, %v", pid, err)
	}
	p.Release()
	if held, _ := Held(path); held {
		t.Error("released pidfile still held")
	}
	if _, err := StopPidfile(path, "beat", time.Second); !errors.Is(err, ErrNotRunning) {
		t.Errorf("stop without a process: %v", err)
	}
	rt := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", rt)
	noRootRunDir(t)
	if d, err := DefaultPidfile("x.pid"); err != nil || d != filepath.Join(rt, "celeroot", "x.pid") {
		t.Errorf("default pidfile %s, %v", d, err)
	}
}

// A detached process that exits is seen as exited, with how.
func TestExited(t *testing.T) {
	cmd, err := Detach("/bin/sh", []string{"-c", "exit 3"}, filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		how, done := Exited(cmd)
		if done {
			if how != "exit status 3" {
				t.Errorf("exited: %q", how)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("sh -c 'exit 3' not seen exiting")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A pidfile directory another user could write is skipped, and a pid that
// is not a cl beat of this user is never signalled.
func TestPidfileNotHijacked(t *testing.T) {
	rt := t.TempDir()
	shared := filepath.Join(rt, "celeroot")
	if err := os.Mkdir(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shared, 0o777); err != nil { // as another user would leave it
		t.Fatal(err)
	}
	t.Setenv("XDG_RUNTIME_DIR", rt)
	noRootRunDir(t)
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	d, err := DefaultPidfile("beat-prod.pid")
	if err != nil || filepath.Dir(d) != filepath.Join(state, "celeroot") {
		t.Errorf("default pidfile %s, %v: want it under %s, not in the world-writable %s", d, err, state, shared)
	}
	if fi, err := os.Stat(filepath.Dir(d)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("pidfile directory %v, %v: want mode 0700", fi.Mode(), err)
	}

	victim := exec.Command("/bin/sleep", "60")
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { victim.Process.Kill(); victim.Wait() })
	path := filepath.Join(t.TempDir(), "beat.pid")
	p, err := LockPidfile(path) // held, as a running beat holds it
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	if err := os.WriteFile(path, []byte(strconv.Itoa(victim.Process.Pid)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := StopPidfile(path, "beat", time.Second); err == nil || !strings.Contains(err.Error(), "not a cl beat") {
		t.Errorf("stop with a foreign pid in the pidfile: err = %v", err)
	}
	if err := victim.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("the process named in the pidfile was signalled: %v", err)
	}
}

// noRootRunDir makes root's /run/celeroot unusable for the test, so that
// the other directories are tried as for any user.
func noRootRunDir(t *testing.T) {
	old := RootRunDir
	RootRunDir = filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(RootRunDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { RootRunDir = old })
}
