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
)

// defaultPidfile is where the local beat of a cluster (and --env) keeps its
// pid: /run/celeroot as root, else $XDG_RUNTIME_DIR/celeroot, else
// /tmp/celeroot-UID; the first whose directory can be created.
func defaultPidfile(cluster, env string) string {
	name := "beat-" + cluster
	if env != "" {
		name += "-" + env
	}
	name += ".pid"
	var dirs []string
	if os.Geteuid() == 0 {
		dirs = append(dirs, "/run/celeroot")
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		dirs = append(dirs, filepath.Join(d, "celeroot"))
	}
	dirs = append(dirs, filepath.Join(os.TempDir(), fmt.Sprintf("celeroot-%d", os.Getuid())))
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o700); err == nil {
			return filepath.Join(d, name)
		}
	}
	return filepath.Join(dirs[len(dirs)-1], name)
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
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("pidfile %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		pid, _ := readPid(path)
		return nil, fmt.Errorf("a beat already runs with pidfile %s (pid %d): stop it with `cl beat stop`, or pass another --pidfile", path, pid)
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
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pidfile %s holds no pid", path)
	}
	return pid, nil
}

// pidfileHeld reports whether a live process holds the pidfile's lock.
func pidfileHeld(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return true
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}

// errNotRunning: no local beat holds the pidfile.
var errNotRunning = errors.New("no local beat is running")

// stopLocal sends SIGTERM to the beat holding the pidfile and waits until
// it has let go of it (it hands its lease over first). After timeout it
// sends SIGKILL.
func stopLocal(path string, timeout time.Duration) (int, error) {
	if !pidfileHeld(path) {
		_ = os.Remove(path) // stale, if any
		return 0, fmt.Errorf("%w (pidfile %s)", errNotRunning, path)
	}
	pid, err := readPid(path)
	if err != nil {
		return 0, err
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return pid, fmt.Errorf("stop beat pid %d: %w", pid, err)
	}
	deadline := time.Now().Add(timeout)
	for pidfileHeld(path) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			return pid, fmt.Errorf("beat pid %d did not stop within %v: killed", pid, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return pid, nil
}
