package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/celeroot/celeroot/deploy/supervise"
)

// rootPidDir is the pidfile directory of root (tests change it).
var rootPidDir = "/run/celeroot"

// pidfileDirs lists where the local beat's pidfile may live, best first:
// /run/celeroot as root, $XDG_RUNTIME_DIR/celeroot, the user's state
// directory ($XDG_STATE_HOME/celeroot or ~/.local/state/celeroot), and
// last /tmp/celeroot-UID.
func pidfileDirs() []string {
	var dirs []string
	if os.Geteuid() == 0 {
		dirs = append(dirs, rootPidDir)
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(d) {
		dirs = append(dirs, filepath.Join(d, "celeroot"))
	}
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		dirs = append(dirs, filepath.Join(d, "celeroot"))
	} else if home, err := os.UserHomeDir(); err == nil && filepath.IsAbs(home) {
		dirs = append(dirs, filepath.Join(home, ".local", "state", "celeroot"))
	}
	return append(dirs, filepath.Join(os.TempDir(), fmt.Sprintf("celeroot-%d", os.Getuid())))
}

// defaultPidfile is where the local beat of a cluster (and --env) keeps its
// pid: in the first of pidfileDirs that is (or can be made) a directory
// owned by the user with mode 0700 — one another user created first is
// skipped, so that user cannot swap the pid in it.
func defaultPidfile(cluster, env string) (string, error) {
	name := "beat-" + cluster
	if env != "" {
		name += "-" + env
	}
	name += ".pid"
	var problems []string
	for _, d := range pidfileDirs() {
		err := supervise.PrivateDir(d)
		if err == nil {
			return filepath.Join(d, name), nil
		}
		problems = append(problems, err.Error())
	}
	return "", fmt.Errorf("no private directory for the beat's pidfile (%s): pass --pidfile in a directory only you can write", strings.Join(problems, "; "))
}

// pidLock is a pidfile held with flock for the life of the beat: a second
// local beat with the same pidfile refuses to start, and a pidfile left by
// a crash is recognised as stale (nobody holds its lock).
type pidLock struct {
	path string
	f    *os.File
}

func lockPidfile(path string) (*pidLock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("pidfile %s: %w", path, err)
	}
	f, err := supervise.LockFile(path)
	if errors.Is(err, supervise.ErrLocked) {
		pid, _ := readPid(path)
		return nil, fmt.Errorf("a beat already runs with pidfile %s (pid %d): stop it with `cl beat stop`, or pass another --pidfile", path, pid)
	}
	if err != nil {
		return nil, fmt.Errorf("pidfile %s: %w", path, err)
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, fmt.Errorf("pidfile %s: %w", path, err)
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("pidfile %s: %w", path, err)
	}
	return &pidLock{path: path, f: f}, nil
}

func (p *pidLock) release() {
	_ = os.Remove(p.path)
	_ = p.f.Close()
}

func readPid(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return 0, fmt.Errorf("pidfile %s holds no pid", path)
	}
	return pid, nil
}

// pidfileHeld reports whether a live process holds the pidfile's lock.
func pidfileHeld(path string) bool {
	held, _ := supervise.Held(path)
	return held
}

// errNotRunning: no local beat holds the pidfile.
var errNotRunning = errors.New("no local beat is running")

// stopLocal sends SIGTERM to the beat holding the pidfile and waits until
// it has let go of it (it hands its lease over first). After timeout it
// sends SIGKILL. The pid is signalled only when it is a `cl beat` of this
// user (its /proc entry says so).
func stopLocal(path string, timeout time.Duration) (int, error) {
	if !pidfileHeld(path) {
		_ = os.Remove(path) // stale, if any
		return 0, fmt.Errorf("%w (pidfile %s)", errNotRunning, path)
	}
	pid, err := readPid(path)
	if err != nil {
		return 0, err
	}
	if err := supervise.CheckProcess(pid, "beat"); err != nil {
		return pid, fmt.Errorf("stop the beat of pidfile %s: %w", path, err)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return pid, fmt.Errorf("stop beat pid %d: %w", pid, err)
	}
	deadline := time.Now().Add(timeout)
	for pidfileHeld(path) {
		if time.Now().After(deadline) {
			if supervise.CheckProcess(pid, "beat") == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			return pid, fmt.Errorf("beat pid %d did not stop within %v: killed", pid, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return pid, nil
}
