package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/celeroot/celeroot/e2e/testhost"
)

var (
	buildOnce sync.Once
	clPath    string
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	// The cl processes keep their state (audit mirrors, agent clones) in a
	// temporary XDG_STATE_HOME, not in the home directory of whoever runs the tests.
	state, err := os.MkdirTemp("", "cl-e2e-state-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("XDG_STATE_HOME", state)
	code := m.Run()
	os.RemoveAll(state)
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// CL builds the cl binary once per test run (static, like a release) and
// returns its path.
func CL(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "cl-e2e-bin-")
		if buildErr != nil {
			return
		}
		clPath = filepath.Join(buildDir, "cl")
		cmd := exec.Command("go", "build", "-o", clPath, "../cmd/cl")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build cl: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return clPath
}

// RunCL runs the built cl with args and returns stdout, stderr and the exit
// code.
func RunCL(t testing.TB, ctx context.Context, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.CommandContext(ctx, CL(t), args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run cl %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// StartRedis runs a throwaway redis-server listening on host (an IP; a free
// port is picked) and returns its address. It is stopped in t.Cleanup.
func StartRedis(t testing.TB, host string) string {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not installed (apt-get install redis-server)")
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("pick a port on %s: %v", host, err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	cmd := exec.Command("redis-server", "--bind", host, "--port", strconv.Itoa(port), "--save", "", "--appendonly", "no",
		"--protected-mode", "no", "--dir", dir)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s did not start: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// FleetConfig is what WriteFleetConfig puts into cl.yaml.
type FleetConfig struct {
	Cluster   string
	RedisAddr string // host:port
	Role      string // every host gets this role (default "web")
	Extra     string // appended verbatim (more top-level sections)
	SSHExtra  string // appended inside ssh:
}

// WriteFleetConfig writes dir/cl.yaml describing every host of f (strict
// host key checking against the fleet's known_hosts) and an empty tasks/
// directory, and returns the cl.yaml path.
func WriteFleetConfig(t testing.TB, dir string, f *testhost.Fleet, fc FleetConfig) string {
	t.Helper()
	if fc.Cluster == "" {
		fc.Cluster = "e2e"
	}
	if fc.Role == "" {
		fc.Role = "web"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "cluster:\n  name: %s\n", fc.Cluster)
	if fc.RedisAddr != "" {
		fmt.Fprintf(&b, "redis:\n  url: redis://%s/0\n", fc.RedisAddr)
	}
	fmt.Fprintf(&b, "ssh:\n  default_user: %s\n  default_key: %s\n  known_hosts: %s\n  timeout: 5s\n%s", f.User, f.KeyPath, f.KnownHostsPath, fc.SSHExtra)
	b.WriteString("hosts:\n")
	for _, h := range f.Hosts {
		fmt.Fprintf(&b, "  %s:\n    role: %s\n    address: %s\n", h.Name, fc.Role, h.Addr)
	}
	fmt.Fprintf(&b, "workers:\n  %s:\n    concurrency: 2\n", fc.Role)
	b.WriteString(fc.Extra)
	if err := os.MkdirAll(filepath.Join(dir, "tasks"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "cl.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
