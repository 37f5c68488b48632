package hostexec

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSSHConformance(t *testing.T) {
	f := newFixture(t)
	h, err := f.pool(t).Get(context.Background(), f.target)
	if err != nil {
		t.Fatal(err)
	}
	testHostConformance(t, h)
}

// Each kill-on-cancel mechanism must work on its own.
func TestSSHCancelMechanisms(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		noSignal, noGroupKill bool
	}{
		{"SignalOnly", false, true},
		{"GroupKillOnly", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			p := f.pool(t)
			p.noSignal, p.noGroupKill = tc.noSignal, tc.noGroupKill
			h, err := p.Get(context.Background(), f.target)
			if err != nil {
				t.Fatal(err)
			}
			testCancelKills(t, h)
		})
	}
}

func TestDialStandalone(t *testing.T) {
	f := newFixture(t)
	h, err := Dial(context.Background(), f.target, f.options())
	if err != nil {
		t.Fatal(err)
	}
	if res, err := h.Run(context.Background(), Command{Argv: []string{"true"}}); err != nil || !res.OK() {
		t.Fatalf("%+v %v", res, err)
	}
	h.Close()
	if _, err := h.Run(context.Background(), Command{Argv: []string{"true"}}); !errors.Is(err, ErrPoolClosed) {
		t.Errorf("run after Close: %v, want ErrPoolClosed", err)
	}
}

func TestPoolSessionLimit(t *testing.T) {
	f := newFixture(t)
	p := f.pool(t, func(o *Options) { o.MaxSessionsPerHost = 3 })
	h, err := p.Get(context.Background(), f.target)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 12 {
		wg.Go(func() {
			if res, err := h.Run(context.Background(), Command{Line: "sleep 0.2"}); err != nil || !res.OK() {
				t.Errorf("run: %+v %v", res, err)
			}
		})
	}
	wg.Wait()
	if m := f.srv.maxSessions.Load(); m != 3 {
		t.Errorf("max concurrent sessions %d, want 3", m)
	}
}

func TestPoolDialsOnce(t *testing.T) {
	f := newFixture(t)
	p := f.pool(t)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := p.Get(context.Background(), f.target); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := f.srv.conns.Load(); n != 1 {
		t.Errorf("%d connections for 20 concurrent Gets, want 1", n)
	}
}

func TestPoolReconnects(t *testing.T) {
	f := newFixture(t)
	p := f.pool(t)
	h, err := p.Get(context.Background(), f.target)
	if err != nil {
		t.Fatal(err)
	}
	f.srv.dropConnections()
	time.Sleep(100 * time.Millisecond)
	if res, err := h.Run(context.Background(), Command{Argv: []string{"true"}}); err != nil || !res.OK() {
		t.Fatalf("run after the connection dropped: %+v %v", res, err)
	}
	if n := f.srv.conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

// A host that stops answering is noticed by keepalives: the run in
// flight fails fast with ErrConnLost.
func TestKeepaliveClosesDeadConnection(t *testing.T) {
	f := newFixture(t)
	p := f.pool(t, func(o *Options) { o.KeepaliveInterval = 100 * time.Millisecond; o.KeepaliveCountMax = 3 })
	h, err := p.Get(context.Background(), f.target)
	if err != nil {
		t.Fatal(err)
	}
	f.srv.ignoreKeepalive.Store(true)
	start := time.Now()
	_, err = h.Run(context.Background(), Command{Line: "sleep 30"})
	if !errors.Is(err, ErrConnLost) || time.Since(start) > 5*time.Second {
		t.Fatalf("after %v: %v, want ErrConnLost within 5s", time.Since(start), err)
	}
	t.Logf("dead connection noticed after %v: %v", time.Since(start).Round(time.Millisecond), err)
}

func TestHandshakeTimeout(t *testing.T) {
	f := newFixture(t, silent())
	const timeout = 300 * time.Millisecond
	p := f.pool(t, func(o *Options) { o.ConnectTimeout = timeout })
	start := time.Now()
	_, err := p.Get(context.Background(), f.target)
	took := time.Since(start)
	if !errors.Is(err, ErrTimeout) || Reason(err) != "timeout" {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	if took > timeout+time.Second {
		t.Errorf("took %v, want about %v", took, timeout)
	}
	if !strings.Contains(err.Error(), f.target.Name) {
		t.Errorf("error does not name the host: %v", err)
	}
}

func TestConnectRefused(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	f := newFixture(t)
	tg := f.target
	tg.Port = port
	_, err := f.pool(t).Get(context.Background(), tg)
	if !errors.Is(err, ErrRefused) || Reason(err) != "refused" {
		t.Errorf("got %v, want ErrRefused", err)
	}
}

func TestJumpHost(t *testing.T) {
	jump := newFixture(t)
	dir := t.TempDir()
	// The final host trusts the same client key as the jump host.
	final := newTestServer(t, mustPub(t, jump.keyFile))
	kh := filepath.Join(dir, "known_hosts")
	os.WriteFile(kh, []byte(jump.srv.knownHostsLine()+final.knownHostsLine()), 0o600)
	tg := final.target()
	tg.KeyFiles = []string{jump.keyFile}
	tg.Jump = []Hop{{User: "jumper", Address: jump.srv.addr, Port: jump.srv.port}}
	p, _ := NewPool(Options{KnownHostsFile: kh})
	defer p.Close()
	h, err := p.Get(context.Background(), tg)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if res, err := h.Run(context.Background(), Command{Line: "echo via jump", Stdout: &out}); err != nil || !res.OK() || out.String() != "via jump\n" {
		t.Fatalf("%+v %v %q", res, err, out.String())
	}
	if jump.srv.conns.Load() != 1 || final.conns.Load() != 1 {
		t.Errorf("connections: jump %d final %d", jump.srv.conns.Load(), final.conns.Load())
	}

	// Every hop's key is verified: the final host unknown → refused, naming it.
	os.WriteFile(kh, []byte(jump.srv.knownHostsLine()), 0o600)
	p2, _ := NewPool(Options{KnownHostsFile: kh})
	defer p2.Close()
	_, err = p2.Get(context.Background(), tg)
	var hk *HostKeyError
	if !errors.As(err, &hk) || hk.Kind != HostKeyUnknown || !strings.Contains(hk.Host, final.addr) || !strings.Contains(err.Error(), "[127.0.0.1]:") {
		t.Errorf("unknown final host behind a jump: %v", err)
	}
	// ... and the jump host unknown → refused, naming the jump host.
	os.WriteFile(kh, []byte(final.knownHostsLine()), 0o600)
	p3, _ := NewPool(Options{KnownHostsFile: kh})
	defer p3.Close()
	_, err = p3.Get(context.Background(), tg)
	if !errors.Is(err, ErrHostKeyUnknown) || !strings.Contains(err.Error(), "jump host jumper@") {
		t.Errorf("unknown jump host: %v", err)
	}
}

func TestSSHBecomeSudo(t *testing.T) {
	if err := exec.Command("sudo", "-n", "true").Run(); err != nil {
		t.Skipf("sudo -n not usable here: %v", err)
	}
	f := newFixture(t)
	tg := f.target
	tg.Become = BecomeSudo
	p := f.pool(t)
	p.noSignal = true // prove the group kill through sudo
	h, err := p.Get(context.Background(), tg)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	res, err := h.Run(context.Background(), Command{Line: `printf '%s %s' "$(id -u)" "$V"`, Env: map[string]string{"V": "a'b"}, Stdout: &out})
	if err != nil || !res.OK() || out.String() != "0 a'b" {
		t.Fatalf("%+v %v %q", res, err, out.String())
	}
	dst := filepath.Join(t.TempDir(), "f")
	if err := h.Upload(context.Background(), strings.NewReader("via sudo"), dst, 0o600); err != nil {
		t.Fatal(err)
	}
	assertFile(t, dst, "via sudo")
	testCancelKills(t, h)
}

// MaxHandshakes caps connection attempts across targets: with a cap of 2,
// four hosts that never answer take two rounds of ConnectTimeout.
func TestMaxHandshakes(t *testing.T) {
	const timeout = 300 * time.Millisecond
	f := newFixture(t)
	p := f.pool(t, func(o *Options) { o.MaxHandshakes = 2; o.ConnectTimeout = timeout })
	var wg sync.WaitGroup
	start := time.Now()
	for range 4 {
		srv := newTestServer(t, nil, silent())
		tg := srv.target()
		tg.KeyFiles = f.target.KeyFiles
		wg.Go(func() {
			if _, err := p.Get(context.Background(), tg); !errors.Is(err, ErrTimeout) {
				t.Errorf("got %v, want ErrTimeout", err)
			}
		})
	}
	wg.Wait()
	if took := time.Since(start); took < 2*timeout {
		t.Errorf("4 attempts with MaxHandshakes 2 took %v, want at least %v", took, 2*timeout)
	}
}
