package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/e2e/testhost"
	"github.com/celeroot/celeroot/hostexec"
)

func sshTarget(f *testhost.Fleet, h *testhost.Host) hostexec.Target {
	return hostexec.Target{Name: h.Name, Address: h.Addr, Port: h.Port, User: f.User, KeyFiles: []string{f.KeyPath}}
}

func sshOptions(f *testhost.Fleet) hostexec.Options {
	return hostexec.Options{KnownHostsFile: f.KnownHostsPath, ConnectTimeout: 5 * time.Second}
}

// TestTransportOverRealSSHD runs the hostexec contract against real sshd
// test hosts.
func TestTransportOverRealSSHD(t *testing.T) {
	f := testhost.New(t, 3)
	pool, err := hostexec.NewPool(sshOptions(f))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	ctx := context.Background()
	h1, err := pool.Get(ctx, sshTarget(f, f.Hosts[0]))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("exit codes, stdin, env", func(t *testing.T) {
		var out bytes.Buffer
		res, err := h1.Run(ctx, hostexec.Command{Argv: []string{"/bin/sh", "-c", `cat; printf '%s' "$GREETING"; hostname; exit 7`},
			Stdin: strings.NewReader("in|"), Env: map[string]string{"GREETING": "it's $(not) run"}, Stdout: &out})
		if err != nil {
			t.Fatal(err)
		}
		if res.ExitCode != 7 || out.String() != "in|it's $(not) run"+f.Hosts[0].Name+"\n" {
			t.Fatalf("exit %d, output %q", res.ExitCode, out.String())
		}
	})

	t.Run("large output", func(t *testing.T) {
		n := &countingWriter{}
		res, err := h1.Run(ctx, hostexec.Command{Argv: []string{"head", "-c", "20000000", "/dev/zero"}, Stdout: n})
		if err != nil || !res.OK() || n.n != 20000000 {
			t.Fatalf("res %+v err %v bytes %d", res, err, n.n)
		}
	})

	t.Run("cancel kills the remote process", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			_, err := h1.Run(cctx, hostexec.Command{Line: "sleep 300 & echo $! > /var/lib/celeroot/sleep.pid; wait"})
			done <- err
		}()
		pidFile := f.Hosts[0].Path("/var/lib/celeroot/sleep.pid")
		pid := waitFile(t, pidFile)
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			if _, err := os.Stat("/proc/" + pid); errors.Is(err, os.ErrNotExist) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("remote sleep (pid %s) still alive after cancel", pid)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})

	t.Run("upload is atomic", func(t *testing.T) {
		dst := "/opt/celeroot/file.txt"
		if err := h1.Upload(ctx, strings.NewReader("v1\n"), dst, 0o640); err != nil {
			t.Fatal(err)
		}
		err := h1.Upload(ctx, io.MultiReader(strings.NewReader("half of v2"), failingReader{}), dst, 0o640)
		if err == nil {
			t.Fatal("upload from a failing reader succeeded")
		}
		got, err := h1.ReadFile(ctx, dst)
		if err != nil || string(got) != "v1\n" {
			t.Fatalf("destination after a failed upload: %q %v", got, err)
		}
		ents, _ := os.ReadDir(f.Hosts[0].Path("/opt/celeroot"))
		for _, e := range ents {
			if e.Name() != "file.txt" {
				t.Errorf("leftover %s", e.Name())
			}
		}
		st, _ := os.Stat(f.Hosts[0].Path(dst))
		if st.Mode().Perm() != 0o640 {
			t.Errorf("mode %v", st.Mode())
		}
	})

	t.Run("jump host", func(t *testing.T) {
		tg := sshTarget(f, f.Hosts[2])
		tg.Jump = []hostexec.Hop{{User: f.User, Address: f.Hosts[1].Addr, Port: 22}}
		h, err := pool.Get(ctx, tg)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if _, err := h.Run(ctx, hostexec.Command{Argv: []string{"hostname"}, Stdout: &out}); err != nil || strings.TrimSpace(out.String()) != f.Hosts[2].Name {
			t.Fatalf("via jump: %q %v", out.String(), err)
		}
	})

	t.Run("agent auth", func(t *testing.T) {
		agent := startAgent(t, f.KeyPath)
		t.Setenv("SSH_AUTH_SOCK", agent)
		opts := sshOptions(f)
		opts.Agent = true
		tg := sshTarget(f, f.Hosts[1])
		tg.KeyFiles = nil
		h, err := hostexec.Dial(ctx, tg, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		if res, err := h.Run(ctx, hostexec.Command{Argv: []string{"true"}}); err != nil || !res.OK() {
			t.Fatalf("%+v %v", res, err)
		}
	})
}

// TestHostStatusWithOneHostCutOff: the cut-off host is reported as a
// timeout within the configured timeout; the others are fine.
func TestHostStatusWithOneHostCutOff(t *testing.T) {
	f := testhost.New(t, 4)
	cfg := WriteFleetConfig(t, t.TempDir(), f, FleetConfig{})
	if err := f.Hosts[2].CutOff(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	CL(t) // build before timing
	start := time.Now()
	out, stderr, code := RunCL(t, ctx, "-c", cfg, "-o", "json", "host", "status")
	took := time.Since(start)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out, stderr)
	}
	if took > 5*time.Second+8*time.Second {
		t.Errorf("took %v with ssh.timeout 5s", took)
	}
	for _, h := range f.Hosts {
		want := `"name": "` + h.Name + `",`
		if !strings.Contains(out, want) {
			t.Fatalf("%s missing from %s", h.Name, out)
		}
	}
	if strings.Count(out, `"reachable": true`) != 3 || !strings.Contains(out, `"reason": "timeout"`) {
		t.Fatalf("want 3 reachable and one timeout:\n%s", out)
	}
	if err := f.Hosts[2].Restore(); err != nil {
		t.Fatal(err)
	}
	out, stderr, code = RunCL(t, ctx, "-c", cfg, "host", "status")
	if code != 0 || !strings.Contains(out, "4 of 4 hosts reachable") || !strings.Contains(out, "verified") {
		t.Fatalf("after restore: %d\n%s\n%s", code, out, stderr)
	}
}

func TestHostStatusHostKeyProblems(t *testing.T) {
	f := testhost.New(t, 1)
	dir := t.TempDir()
	cfg := WriteFleetConfig(t, dir, f, FleetConfig{})
	empty := dir + "/known_hosts"
	os.WriteFile(empty, nil, 0o600)
	data, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, bytes.Replace(data, []byte(f.KnownHostsPath), []byte(empty), 1), 0o644)
	ctx := context.Background()
	out, _, code := RunCL(t, ctx, "-c", cfg, "host", "status")
	if code != 1 || !strings.Contains(out, "host key unknown") || !strings.Contains(out, "SHA256:") {
		t.Fatalf("unknown key: %d\n%s", code, out)
	}
	// accept-new records the key, then enforces it.
	data, _ = os.ReadFile(cfg)
	os.WriteFile(cfg, bytes.Replace(data, []byte("  timeout: 5s\n"), []byte("  timeout: 5s\n  host_key_policy: accept-new\n"), 1), 0o644)
	if out, _, code := RunCL(t, ctx, "-c", cfg, "host", "status"); code != 0 {
		t.Fatalf("accept-new: %d\n%s", code, out)
	}
	kh, _ := os.ReadFile(empty)
	if !strings.Contains(string(kh), f.Hosts[0].Addr) {
		t.Fatalf("key not recorded: %q", kh)
	}
	// A different key for the host: mismatch, refused even under accept-new.
	os.WriteFile(empty, []byte(fmt.Sprintf("%s ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n", f.Hosts[0].Addr)), 0o600)
	out, _, code = RunCL(t, ctx, "-c", cfg, "host", "status")
	if code != 1 || !strings.Contains(out, "host key mismatch") {
		t.Fatalf("mismatch: %d\n%s", code, out)
	}
}

func TestHostDiscover(t *testing.T) {
	f := testhost.New(t, 3)
	dir := t.TempDir()
	cfg := WriteFleetConfig(t, dir, f, FleetConfig{})
	// Keep only host1 registered; discovery should find the other two.
	data, _ := os.ReadFile(cfg)
	text := string(data)
	for _, h := range f.Hosts[1:] {
		text = strings.Replace(text, fmt.Sprintf("  %s:\n    role: web\n    address: %s\n", h.Name, h.Addr), "", 1)
	}
	os.WriteFile(cfg, []byte(text), 0o644)
	for _, args := range [][]string{{"init", "-q"}, {"add", "."}, {"-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "init"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	ctx := context.Background()
	out, stderr, code := RunCL(t, ctx, "-c", cfg, "-o", "json", "host", "discover", "--network", f.Subnet().String(), "--timeout", "1s")
	if code != 0 {
		t.Fatalf("discover: %d %s", code, stderr)
	}
	for _, h := range f.Hosts {
		if !strings.Contains(out, `"address": "`+h.Addr+`"`) {
			t.Fatalf("%s (%s) not found:\n%s", h.Name, h.Addr, out)
		}
	}
	if strings.Count(out, `"compatible": true`) != 3 || !strings.Contains(out, `"known_as": "host1"`) || !strings.Contains(out, `"suggested_name": "host2"`) {
		t.Fatalf("verdicts:\n%s", out)
	}
	out, stderr, code = RunCL(t, ctx, "-c", cfg, "host", "discover", "--network", f.Subnet().String(), "--timeout", "1s", "--add", "--role", "web", "--yes")
	if code != 0 || strings.Count(out, "added host") != 2 {
		t.Fatalf("discover --add: %d\n%s\n%s", code, out, stderr)
	}
	out, _, _ = RunCL(t, ctx, "-c", cfg, "host", "list")
	for _, h := range f.Hosts {
		if !strings.Contains(out, h.Addr) {
			t.Fatalf("%s not registered:\n%s", h.Addr, out)
		}
	}
	log := exec.Command("git", "log", "--format=%s")
	log.Dir = dir
	if msgs, _ := log.Output(); strings.Count(string(msgs), "cl: add host") != 2 {
		t.Fatalf("commits: %s", msgs)
	}
	if _, stderr, code := RunCL(t, ctx, "-c", cfg, "host", "discover", "--network", "10.0.0.0/8"); code != 1 || !strings.Contains(stderr, "--force") {
		t.Fatalf("large network: %d %s", code, stderr)
	}
}

type countingWriter struct{ n int }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("source broke") }

func waitFile(t *testing.T, path string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil && len(bytes.TrimSpace(b)) > 0 {
			return strings.TrimSpace(string(b))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never appeared", path)
	return ""
}

func startAgent(t *testing.T, key string) string {
	t.Helper()
	sock := t.TempDir() + "/agent.sock"
	cmd := exec.Command("ssh-agent", "-D", "-a", sock)
	if err := cmd.Start(); err != nil {
		t.Skipf("ssh-agent: %v (apt-get install openssh-client)", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("ssh-agent socket never appeared")
		}
		time.Sleep(20 * time.Millisecond)
	}
	add := exec.Command("ssh-add", key)
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add: %v %s", err, out)
	}
	return sock
}
