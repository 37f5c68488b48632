package supervise

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// RootRunDir is the pidfile directory of root (tests change it).
var RootRunDir = "/run/celeroot"

// RunDirs lists where a detached cl process of this user may keep its
// pidfile, best first: RootRunDir as root, $XDG_RUNTIME_DIR/celeroot, the
// user's state directory ($XDG_STATE_HOME/celeroot or
// ~/.local/state/celeroot), and last /tmp/celeroot-UID.
func RunDirs() []string {
	var dirs []string
	if os.Geteuid() == 0 {
		dirs = append(dirs, RootRunDir)
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

// DefaultPidfile is the path of pidfile name in the first of RunDirs that
// is (or can be made) a PrivateDir: one another user created first is
// skipped, so that user cannot swap the pid in it.
func DefaultPidfile(name string) (string, error) {
	var problems []string
	for _, d := range RunDirs() {
		err := PrivateDir(d)
		if err == nil {
			return filepath.Join(d, name), nil
		}
		problems = append(problems, err.Error())
	}
	return "", fmt.Errorf("no private directory for the pidfile %s (%s): pass --pidfile in a directory only you can write", name, strings.Join(problems, "; "))
}

// LockedError is returned by LockPidfile when a live process holds the
// pidfile; it wraps ErrLocked.
type LockedError struct {
	Path string
	PID  int // 0 when the file holds none yet
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("pidfile %s is held by pid %d", e.Path, e.PID)
}

// Unwrap makes errors.Is(err, ErrLocked) hold.
func (e *LockedError) Unwrap() error { return ErrLocked }

// Pidfile is a pidfile held with flock for the life of a process: a
// second process with the same pidfile refuses to start, and a pidfile
// left by a crash is recognised as stale (nobody holds its lock).
type Pidfile struct {
	Path string
	f    *os.File
}

// LockPidfile takes path's lock (creating its directory, 0700) and writes
// this process's pid into it.
func LockPidfile(path string) (*Pidfile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("pidfile %s: %w", path, err)
	}
	f, err := LockFile(path)
	if errors.Is(err, ErrLocked) {
		pid, _ := ReadPid(path)
		return nil, &LockedError{Path: path, PID: pid}
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
	return &Pidfile{Path: path, f: f}, nil
}

// Release removes the pidfile and lets go of its lock.
func (p *Pidfile) Release() {
	_ = os.Remove(p.Path)
	_ = p.f.Close()
}

// ReadPid returns the pid a pidfile holds.
func ReadPid(path string) (int, error) {
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

// ErrNotRunning is matched by StopPidfile's error when no process holds
// the pidfile.
var ErrNotRunning = errors.New("not running")

// notRunningError says which process is not running, and matches
// ErrNotRunning.
type notRunningError struct{ arg, path string }

func (e notRunningError) Error() string {
	return fmt.Sprintf("no local %s is running (pidfile %s)", e.arg, e.path)
}

func (e notRunningError) Is(target error) bool { return target == ErrNotRunning }

// StopPidfile sends SIGTERM to the `cl ARG` process holding the pidfile
// and waits until it has let go of it; after timeout it sends SIGKILL.
// The pid is signalled only when CheckProcess(pid, arg) says it is such a
// process of this user. A stale pidfile is removed.
func StopPidfile(path, arg string, timeout time.Duration) (int, error) {
	if held, _ := Held(path); !held {
		_ = os.Remove(path) // stale, if any
		return 0, notRunningError{arg, path}
	}
	pid, err := ReadPid(path)
	if err != nil {
		return 0, err
	}
	if err := CheckProcess(pid, arg); err != nil {
		return pid, fmt.Errorf("stop the %s of pidfile %s: %w", arg, path, err)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return pid, fmt.Errorf("stop %s pid %d: %w", arg, pid, err)
	}
	if waitUnlocked(path, timeout) {
		return pid, nil
	}
	if CheckProcess(pid, arg) == nil {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	return pid, fmt.Errorf("%s pid %d did not stop within %v: killed", arg, pid, timeout)
}

// waitUnlocked waits up to timeout until no process holds path's lock.
func waitUnlocked(path string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if held, _ := Held(path); !held {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Exited reports, without waiting, whether cmd (started by Detach and
// not yet waited for) has exited, and how.
func Exited(cmd *exec.Cmd) (string, bool) {
	var ws syscall.WaitStatus
	pid := cmd.Process.Pid
	if n, _ := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil); n != pid {
		return "", false
	}
	if ws.Signaled() {
		return "killed by " + ws.Signal().String(), true
	}
	return fmt.Sprintf("exit status %d", ws.ExitStatus()), true
}
