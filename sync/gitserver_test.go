package sync

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// gitDaemon is a real git server (git daemon) serving the bare
// repositories under base over git://, pushes allowed.
type gitDaemon struct {
	base string
	port int
}

func startGitDaemon(t *testing.T) *gitDaemon {
	t.Helper()
	d := &gitDaemon{base: t.TempDir(), port: freePort(t)}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "git", "daemon", "--export-all", "--base-path="+d.base,
		fmt.Sprintf("--port=%d", d.port), "--listen=127.0.0.1", "--reuseaddr", "--enable=receive-pack", d.base)
	// git daemon forks a child per connection: run it in its own process
	// group and kill the group, so no child outlives the test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start git daemon: %v (apt-get install git)", err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", d.port))
		if err == nil {
			c.Close()
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("git daemon does not listen on %d: %v", d.port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// bare creates an empty bare repository name under the daemon's base and
// returns its git:// URL.
func (d *gitDaemon) bare(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("git", "init", "-q", "--bare", "-b", "main", filepath.Join(d.base, name)).CombinedOutput()
	if err != nil {
		t.Fatalf("git init --bare: %v\n%s", err, out)
	}
	return fmt.Sprintf("git://127.0.0.1:%d/%s", d.port, name)
}

// fleetWorkRepo is a work tree holding a copy of examples/fleet at its
// root, committed.
func fleetWorkRepo(t *testing.T) (*gitRepo, string) {
	t.Helper()
	r := newGitRepo(t)
	if err := os.CopyFS(r.dir, os.DirFS(filepath.Join("..", "examples", "fleet"))); err != nil {
		t.Fatal(err)
	}
	return r, r.commitAll("the example fleet")
}
