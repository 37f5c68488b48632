package testhost

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sshHostname(t *testing.T, h *Host, extra ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	args := append(append(extra, h.SSHArgs()...), "hostname")
	out, err := exec.CommandContext(ctx, "ssh", args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func dial(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
	}
	return err
}

func TestFleet(t *testing.T) {
	if _, err := exec.LookPath("ssh"); err != nil && SkipReason() == "" {
		t.Fatal("the OpenSSH client is missing: apt-get install -y openssh-client")
	}
	f := New(t, 3)
	ctx := context.Background()
	h1, h2, h3 := f.Hosts[0], f.Hosts[1], f.Hosts[2]

	t.Run("ssh strict host keys", func(t *testing.T) {
		for _, h := range f.Hosts {
			name, err := sshHostname(t, h)
			if err != nil || name != h.Name {
				t.Errorf("ssh %s hostname = %q, %v; want %q", h.Addr, name, err, h.Name)
			}
		}
	})

	t.Run("jump host", func(t *testing.T) {
		proxy := "ProxyCommand=ssh " + strings.Join(h1.SSHArgs()[:len(h1.SSHArgs())-1], " ") +
			" -W %h:%p " + f.User + "@" + h1.Addr
		name, err := sshHostname(t, h3, "-o", proxy)
		if err != nil || name != h3.Name {
			t.Errorf("ssh via %s to %s: hostname = %q, %v", h1.Name, h3.Name, name, err)
		}
	})

	t.Run("bridge reachable from host", func(t *testing.T) {
		ln, err := net.Listen("tcp", net.JoinHostPort(f.BridgeIP(), "0"))
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			if c, err := ln.Accept(); err == nil {
				_, _ = c.Write([]byte("hello from bridge\n"))
				c.Close()
			}
		}()
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		// sshd inside h2 opens the connection, so it starts in h2's netns.
		args := append(h2.SSHArgs(), "-W", ln.Addr().String())
		out, err := exec.CommandContext(cctx, "ssh", args...).Output()
		if err != nil || string(out) != "hello from bridge\n" {
			t.Errorf("ssh -W via %s to the bridge: %q, %v", h2.Name, out, err)
		}
		if out, err := h2.Exec(ctx, "ip", "-o", "addr", "show", "lo"); err != nil || !strings.Contains(string(out), "127.0.0.1") {
			t.Errorf("lo in %s: %s, %v", h2.Name, out, err)
		}
	})

	t.Run("private filesystem", func(t *testing.T) {
		marker := "/opt/celeroot/marker-" + f.ID()
		if _, err := h1.Exec(ctx, "sh", "-c", "echo one > "+marker); err != nil {
			t.Fatal(err)
		}
		if data, err := os.ReadFile(h1.Path(marker)); err != nil || string(data) != "one\n" {
			t.Errorf("h1.Path(%s) = %q, %v", marker, data, err)
		}
		if out, err := h2.Exec(ctx, "test", "-e", marker); err == nil {
			t.Errorf("marker visible in %s: %s", h2.Name, out)
		}
		if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("marker visible on the root filesystem: %v", err)
		}
		if out, err := h2.Exec(ctx, "hostname"); err != nil || strings.TrimSpace(string(out)) != h2.Name {
			t.Errorf("Exec hostname in %s = %q, %v", h2.Name, out, err)
		}
	})

	t.Run("resolve symlink in host view", func(t *testing.T) {
		if _, err := h1.Exec(ctx, "sh", "-c", "mkdir -p /opt/celeroot/releases/abc && echo v > /opt/celeroot/releases/abc/VERSION && ln -sfn /opt/celeroot/releases/abc /opt/celeroot/current"); err != nil {
			t.Fatal(err)
		}
		p, err := h1.Resolve("/opt/celeroot/current/VERSION")
		if err != nil || p != h1.Path("/opt/celeroot/releases/abc/VERSION") {
			t.Errorf("Resolve = %q, %v", p, err)
		}
	})

	t.Run("cut off and restore", func(t *testing.T) {
		if err := h2.CutOff(); err != nil {
			t.Fatal(err)
		}
		err := dial(h2.Endpoint())
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("dial cut-off host: %v; want a timeout", err)
		}
		if err := h2.Restore(); err != nil {
			t.Fatal(err)
		}
		if err := dial(h2.Endpoint()); err != nil {
			t.Errorf("dial restored host: %v", err)
		}
	})

	t.Run("kill and start", func(t *testing.T) {
		if _, err := h3.Exec(ctx, "sh", "-c", "sleep 300 >/dev/null 2>&1 &"); err != nil {
			t.Fatal(err)
		}
		if err := h3.Kill(); err != nil {
			t.Fatal(err)
		}
		if err := dial(h3.Endpoint()); err == nil {
			t.Error("killed host still accepts connections")
		}
		if out, _ := exec.Command("ip", "netns", "pids", h3.NetNS()).Output(); len(out) != 0 {
			t.Errorf("processes left in killed host: %s", out)
		}
		if err := h3.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if name, err := sshHostname(t, h3); err != nil || name != h3.Name {
			t.Errorf("after restart: hostname = %q, %v", name, err)
		}
	})

	t.Run("close leaves nothing", func(t *testing.T) {
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		assertGone(t, f)
	})
}

// assertGone checks that no netns, link, mount, directory or state file of
// the fleet remains.
func assertGone(t *testing.T, f *Fleet) {
	t.Helper()
	id := f.st.ID
	for _, c := range [][]string{{"ip", "netns", "list"}, {"ip", "-o", "link", "show"}} {
		out, err := exec.Command(c[0], c[1:]...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v", c, err)
		}
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, "clt"+id) || strings.Contains(l, "clb"+id) || strings.Contains(l, "clv"+id) {
				t.Errorf("left over after Close: %s", l)
			}
		}
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(mi), "\n") {
		if strings.Contains(l, "clt"+id) || strings.Contains(l, tempPrefix+id) {
			t.Errorf("mount left over after Close: %s", l)
		}
	}
	for _, p := range []string{f.Dir, statePath(id), filepath.Join(StateDir, "clt"+id)} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left over after Close: %v", p, err)
		}
	}
}

func TestSweepDeadOwner(t *testing.T) {
	f := New(t, 1)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	f.st.PID = dead.Process.Pid // a process that has exited: the owner is "dead"
	if err := f.st.save(); err != nil {
		t.Fatal(err)
	}
	// Another process starting a fleet may sweep it first; either way it goes.
	if _, err := Sweep(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	assertGone(t, f)
}

func TestPath(t *testing.T) {
	h := &Host{mounts: []bindMount{
		{source: "/x/root/opt/celeroot", target: "/opt/celeroot"},
		{source: "/x/root/home/cltest", target: "/home/cltest"},
	}}
	for in, want := range map[string]string{
		"/opt/celeroot/current": "/x/root/opt/celeroot/current",
		"/opt/celeroot":         "/x/root/opt/celeroot",
		"/opt/celerootx":        "/opt/celerootx",
		"/home/cltest/.ssh/":    "/x/root/home/cltest/.ssh",
		"/etc/hosts":            "/etc/hosts",
	} {
		if got := h.Path(in); got != want {
			t.Errorf("Path(%q) = %q; want %q", in, got, want)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	good := buildOptions(nil)
	if err := good.validate(3); err != nil {
		t.Errorf("defaults: %v", err)
	}
	for name, o := range map[string]Options{
		"relative mount": buildOptions([]Option{WithBindMounts("opt/x")}),
		"root mount":     buildOptions([]Option{WithBindMounts("/")}),
		"bad user":       buildOptions([]Option{WithUser("Root Admin")}),
		"bad prefix":     buildOptions([]Option{WithNamePrefix("a_b")}),
	} {
		if err := o.validate(3); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if err := good.validate(0); err == nil {
		t.Error("0 hosts: no error")
	}
	if err := checkBindTargets([]string{"/tmp"}, "/tmp/celeroot-testhost-abcd-1"); err == nil {
		t.Error("bind over the fleet dir: no error")
	}
}

func TestParsing(t *testing.T) {
	if got := unescapeMountinfo(`/a\040b`); got != "/a b" {
		t.Errorf("unescape = %q", got)
	}
	p, err := parseRouteDst("local 10.200.1.1 dev clb1 table local proto kernel scope host src 10.200.1.1")
	if err != nil || p.String() != "10.200.1.1/32" {
		t.Errorf("route = %v, %v", p, err)
	}
	d := Description{ID: "clt0001", User: "cltest", KeyPath: "/k", KnownHostsPath: "/kh",
		Hosts: []HostDescription{{Name: "host1", Address: "10.200.1.2", Port: 22}}}
	inv := d.AnsibleInventory()
	for _, want := range []string{"[testhosts]", "host1 ansible_host=10.200.1.2 ansible_port=22",
		"ansible_user=cltest", "UserKnownHostsFile=/kh"} {
		if !strings.Contains(inv, want) {
			t.Errorf("inventory lacks %q:\n%s", want, inv)
		}
	}
}
