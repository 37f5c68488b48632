package supervise

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestPrivateDir(t *testing.T) {
	base := t.TempDir()
	fresh := filepath.Join(base, "a", "b")
	if err := PrivateDir(fresh); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(fresh); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("created %v, %v; want mode 0700", fi.Mode(), err)
	}
	if err := PrivateDir(fresh); err != nil {
		t.Errorf("existing private dir refused: %v", err)
	}
	open := filepath.Join(base, "open")
	if err := os.Mkdir(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := PrivateDir(open); err == nil || !strings.Contains(err.Error(), "writable by others") {
		t.Errorf("world-writable dir: err = %v", err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink(fresh, link); err != nil {
		t.Fatal(err)
	}
	if err := PrivateDir(link); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("symlink: err = %v", err)
	}
	if os.Geteuid() == 0 { // chown needs root
		other := filepath.Join(base, "other")
		if err := os.Mkdir(other, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(other, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		if err := PrivateDir(other); err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
			t.Errorf("dir of another user: err = %v", err)
		}
	}
}

func TestLockFileAndHeld(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.lock")
	if held, err := Held(path); held || err != nil {
		t.Fatalf("missing file held=%v err=%v", held, err)
	}
	f, err := LockFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("lock file mode %v, want 0600", fi.Mode().Perm())
	}
	if held, err := Held(path); !held || err != nil {
		t.Errorf("locked file held=%v err=%v", held, err)
	}
	if _, err := LockFile(path); !errors.Is(err, ErrLocked) {
		t.Errorf("second lock: err = %v, want ErrLocked", err)
	}
	f.Close()
	if held, _ := Held(path); held {
		t.Error("closed lock still held")
	}
	link := filepath.Join(dir, "link.lock")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	if _, err := LockFile(link); err == nil {
		t.Error("LockFile followed a symlink")
	}
}

func TestCheckProcess(t *testing.T) {
	cmd := exec.Command("/bin/sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	// Its command line can read empty for a moment after the start (seen
	// once in CI): give it a second.
	var err error
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if err = CheckProcess(cmd.Process.Pid, "60"); err == nil {
			break
		}
	}
	if err != nil {
		t.Errorf("sleep 60 is not recognised by its argument: %v", err)
	}
	if err := CheckProcess(cmd.Process.Pid, "beat"); err == nil || !strings.Contains(err.Error(), "not a cl beat") {
		t.Errorf("sleep 60 taken for a cl beat: err = %v", err)
	}
	if err := CheckProcess(1<<22+1, "beat"); err == nil {
		t.Error("a pid that does not exist passed")
	}
	if os.Geteuid() == 0 {
		other := exec.Command("/bin/sleep", "60")
		other.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		if err := other.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { other.Process.Kill(); other.Wait() })
		if err := CheckProcess(other.Process.Pid, "60"); err == nil || !strings.Contains(err.Error(), "runs as uid 65534") {
			t.Errorf("another user's process passed: err = %v", err)
		}
	}
}
