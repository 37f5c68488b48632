package supervise

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
)

// The helpers below are shared by the supervisor and by any other detached
// cl process that keeps a lock file and a pid (`cl beat`).

// ErrLocked is returned by LockFile when another process holds the lock.
var ErrLocked = errors.New("locked by another process")

// PrivateDir creates dir (mode 0700) when it is missing and checks that it
// is a directory, not a symlink, owned by the effective user and not
// writable by anyone else: a directory another user created first (in
// /tmp, say) could let that user swap the files in it.
func PrivateDir(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("create %s: %w", dir, err)
		}
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return fmt.Errorf("create %s: %w", dir, err)
		}
		if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create %s: %w", dir, err)
		}
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("check %s: %w", dir, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory (a symlink or file is in the way): remove it, or choose another path", dir)
	case !ok || int(st.Uid) != os.Geteuid():
		return fmt.Errorf("%s is owned by uid %d, not by you (uid %d): remove it, or choose another path", dir, st.Uid, os.Geteuid())
	case fi.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("%s is writable by others (mode %04o): chmod 700 it, or choose another path", dir, fi.Mode().Perm())
	}
	return nil
}

// LockFile opens path (created 0600, never through a symlink) and takes an
// exclusive flock on it without waiting: the lock lasts until the file is
// closed or the process dies. Another holder gives an error wrapping
// ErrLocked.
func LockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("flock %s: %w", path, err)
	}
	return f, nil
}

// Held reports whether a live process holds path's flock. It creates
// nothing: a missing file is not held.
func Held(path string) (bool, error) {
	fd, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("open %s: %w", path, err)
	}
	defer fd.Close()
	err = syscall.Flock(int(fd.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("flock %s: %w", path, err)
	}
	_ = syscall.Flock(int(fd.Fd()), syscall.LOCK_UN)
	return false, nil
}

// Detach starts self with args in a new session (setsid), stdin
// /dev/null, stdout and stderr appended to logPath (created 0600), working
// directory /, so that it outlives the cl (and the SSH session) that
// started it. The caller waits for it or releases it.
func Detach(self string, args []string, logPath string) (*exec.Cmd, error) {
	out, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("log %s: %w", logPath, err)
	}
	defer out.Close()
	cmd := exec.Command(self, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", filepath.Base(self), err)
	}
	return cmd, nil
}

// CheckProcess checks, before a signal is sent to pid, that it runs as the
// effective user and that arg is one of its arguments (after the
// program), as /proc/PID shows them: a pid read from a file must not make
// cl signal an unrelated process.
func CheckProcess(pid int, arg string) error {
	proc := "/proc/" + strconv.Itoa(pid)
	fi, err := os.Stat(proc)
	if err != nil {
		return fmt.Errorf("pid %d: no such process", pid)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("pid %d runs as uid %d, not as you (uid %d): it is not the process the pid file names; not signalled", pid, st.Uid, os.Geteuid())
	}
	b, err := os.ReadFile(proc + "/cmdline")
	if err != nil {
		return fmt.Errorf("pid %d: read its command line: %w", pid, err)
	}
	argv := bytes.Split(bytes.TrimRight(b, "\x00"), []byte{0})
	if len(argv) < 2 || !slices.ContainsFunc(argv[1:], func(a []byte) bool { return string(a) == arg }) {
		return fmt.Errorf("pid %d is not a cl %s (its command is %q): it is not the process the pid file names; not signalled", pid, arg, bytes.Join(argv, []byte(" ")))
	}
	return nil
}
