package hostexec

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// startMux runs a mux on a socket of its own for the test and returns the
// Mux options pointing at it.
// The channel is closed when the mux returns; a failed mux fails the test.
func startTestMux(t *testing.T, idle time.Duration) (*Mux, <-chan struct{}) {
	t.Helper()
	dir, err := os.MkdirTemp("", "mux")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "m.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := ServeMux(ctx, sock, idle, nil); err != nil {
			t.Errorf("mux: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	for range 200 {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return &Mux{Socket: sock, Persist: time.Minute}, done
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("mux did not start")
	return nil, nil
}

func muxPool(t *testing.T, f *fixture, m *Mux, mod ...func(*Options)) *Pool {
	return f.pool(t, append([]func(*Options){func(o *Options) { o.Mux = m }}, mod...)...)
}

func TestMuxConformance(t *testing.T) {
	f := newFixture(t)
	m, _ := startTestMux(t, time.Minute)
	h, err := muxPool(t, f, m).Get(context.Background(), f.target)
	if err != nil {
		t.Fatal(err)
	}
	testHostConformance(t, h)
	t.Run("CancelKills", func(t *testing.T) { testCancelKills(t, h) })
	if n := f.srv.conns.Load(); n != 1 {
		t.Errorf("%d connections to the host, want 1 (the mux's)", n)
	}
}

// Processes (pools) one after the other share the mux's connection.
func TestMuxSharesConnection(t *testing.T) {
	f := newFixture(t)
	m, _ := startTestMux(t, time.Minute)
	for i := range 3 {
		p := muxPool(t, f, m)
		h, err := p.Get(context.Background(), f.target)
		if err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		if res, err := h.Run(context.Background(), Command{Line: "echo hi", Stdout: &out}); err != nil || !res.OK() || out.String() != "hi\n" {
			t.Fatalf("run %d: %+v %v %q", i, res, err, out.String())
		}
		if i == 1 {
			conns, err := MuxControl(context.Background(), m.Socket, "status")
			if err != nil || len(conns) != 1 || conns[0].Clients != 1 || !strings.HasSuffix(conns[0].Target, f.srv.ln.Addr().String()) {
				t.Errorf("status while one pool uses it: %+v %v", conns, err)
			}
		}
		p.Close()
	}
	if n := f.srv.conns.Load(); n != 1 {
		t.Errorf("%d connections to the host for 3 pools, want 1", n)
	}
}

// Dial errors come back as a direct dial reports them.
func TestMuxRelaysDialErrors(t *testing.T) {
	f := newFixture(t)
	m, _ := startTestMux(t, time.Minute)
	check := func(name string, tg Target, o Options, want error) {
		t.Helper()
		_, direct := NewPoolOrFatal(t, o).Get(context.Background(), tg)
		o.Mux = m
		_, via := NewPoolOrFatal(t, o).Get(context.Background(), tg)
		if !errors.Is(via, want) || Reason(via) != Reason(direct) || via.Error() != direct.Error() {
			t.Errorf("%s: through the mux %q (%s), directly %q (%s)", name, via, Reason(via), direct, Reason(direct))
		}
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	refused := f.target
	refused.Port = port
	check("refused", refused, f.options(), ErrRefused)

	o := f.options()
	o.KnownHostsFile = filepath.Join(t.TempDir(), "known_hosts")
	check("unknown host key", f.target, o, ErrHostKeyUnknown)
	o.Mux = m
	_, err := NewPoolOrFatal(t, o).Get(context.Background(), f.target)
	var hk *HostKeyError
	if !errors.As(err, &hk) || hk.Fingerprint == "" || hk.Kind != HostKeyUnknown {
		t.Errorf("through the mux: %#v, want a *HostKeyError with the fingerprint", err)
	}

	wrong := f.target
	wrong.KeyFiles = []string{writeKeyOrFatal(t)}
	check("auth", wrong, f.options(), ErrAuthFailed)
}

func NewPoolOrFatal(t *testing.T, o Options) *Pool {
	t.Helper()
	p, err := NewPool(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func writeKeyOrFatal(t *testing.T) string {
	k, _ := writeKey(t, t.TempDir(), "other", nil)
	return k
}

// A key file the client could prompt for is not the mux's to refuse: the
// client dials itself and prompts.
func TestMuxLeavesPromptsToTheClient(t *testing.T) {
	f := newFixture(t)
	m, _ := startTestMux(t, time.Minute)
	dir := t.TempDir()
	key, pub := writeKey(t, dir, "locked", []byte("secret"))
	f.srv.authorize(pub)
	tg := f.target
	tg.KeyFiles = []string{key}
	asked := 0
	p := muxPool(t, f, m, func(o *Options) {
		o.PassphrasePrompt = func(string) ([]byte, error) { asked++; return []byte("secret"), nil }
	})
	h, err := p.Get(context.Background(), tg)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := h.Run(context.Background(), Command{Argv: []string{"true"}}); err != nil || !res.OK() || asked != 1 {
		t.Fatalf("%+v %v, asked %d times", res, err, asked)
	}
}

// An idle connection the host dropped is replaced; one that no longer
// answers is a timeout, as a host that does not answer a dial is.
func TestMuxChecksIdleConnections(t *testing.T) {
	f := newFixture(t)
	m, _ := startTestMux(t, time.Minute)
	get := func() (Host, error) {
		return muxPool(t, f, m, func(o *Options) { o.ConnectTimeout = 500 * time.Millisecond }).Get(context.Background(), f.target)
	}
	if _, err := get(); err != nil {
		t.Fatal(err)
	}
	f.srv.dropConnections()
	h, err := get()
	if err != nil {
		t.Fatal(err)
	}
	if res, err := h.Run(context.Background(), Command{Argv: []string{"true"}}); err != nil || !res.OK() {
		t.Fatalf("after the host dropped the connection: %+v %v", res, err)
	}
	if n := f.srv.conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
	f.srv.ignoreKeepalive.Store(true)
	start := time.Now()
	if _, err := get(); !errors.Is(err, ErrTimeout) || time.Since(start) > 3*time.Second {
		t.Errorf("a silent host after %v: %v, want ErrTimeout", time.Since(start), err)
	}
}

// The mux exits once it has had nothing to do for its idle time, closing
// the host connections it kept.
func TestMuxIdleExit(t *testing.T) {
	f := newFixture(t)
	m, done := startTestMux(t, 200*time.Millisecond)
	m.Persist = 100 * time.Millisecond
	p := muxPool(t, f, m)
	if _, err := p.Get(context.Background(), f.target); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
		t.Fatal("mux exited while a client was connected")
	case <-time.After(500 * time.Millisecond):
	}
	p.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("mux still running 5s after its last client left")
	}
	if _, err := os.Stat(m.Socket); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left behind: %v", err)
	}
}

// No mux and none to start: the pool dials directly.
func TestMuxAbsentDialsDirectly(t *testing.T) {
	f := newFixture(t)
	p := muxPool(t, f, &Mux{Socket: filepath.Join(t.TempDir(), "none.sock"), Persist: time.Minute})
	h, err := p.Get(context.Background(), f.target)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := h.Run(context.Background(), Command{Argv: []string{"true"}}); err != nil || !res.OK() {
		t.Fatalf("%+v %v", res, err)
	}
}

// A second mux on the same socket leaves the first one serving.
func TestMuxOnePerSocket(t *testing.T) {
	m, _ := startTestMux(t, time.Minute)
	if err := ServeMux(context.Background(), m.Socket, time.Minute, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := MuxControl(context.Background(), m.Socket, "status"); err != nil {
		t.Fatalf("first mux gone: %v", err)
	}
}

func TestPrivateDir(t *testing.T) {
	base := t.TempDir()
	ok := filepath.Join(base, "ok")
	if err := privateDir(ok); err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(base, "open")
	if err := os.Mkdir(open, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := privateDir(open); err == nil || !strings.Contains(err.Error(), "open to other users") {
		t.Errorf("0755 dir: %v", err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink(ok, link); err != nil {
		t.Fatal(err)
	}
	if err := privateDir(link); err == nil {
		t.Error("a symlink was accepted")
	}
}

// A connection is not reused once known_hosts or the key file changed:
// a revoked host key or a rotated login key takes effect at once.
func TestMuxRedialsWhenFilesChange(t *testing.T) {
	f := newFixture(t)
	m, _ := startTestMux(t, time.Minute)
	run := func() {
		t.Helper()
		p := muxPool(t, f, m)
		defer p.Close()
		h, err := p.Get(context.Background(), f.target)
		if err != nil {
			t.Fatal(err)
		}
		if res, err := h.Run(context.Background(), Command{Argv: []string{"true"}}); err != nil || !res.OK() {
			t.Fatalf("%+v %v", res, err)
		}
	}
	run()
	run()
	if n := f.srv.conns.Load(); n != 1 {
		t.Fatalf("%d connections for two runs, want 1", n)
	}
	later := time.Now().Add(time.Minute)
	for i, file := range []string{f.options().KnownHostsFile, f.target.KeyFiles[0]} {
		if err := os.Chtimes(file, later, later); err != nil {
			t.Fatal(err)
		}
		run()
		if n := f.srv.conns.Load(); n != int32(i+2) {
			t.Errorf("after %s changed: %d connections, want %d", file, n, i+2)
		}
		// The earlier connection closes once the mux saw its last
		// user go.
		for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			conns, err := MuxControl(context.Background(), m.Socket, "status")
			if err == nil && len(conns) == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("after %s changed the mux holds %+v (%v), want the new connection only", file, conns, err)
				break
			}
		}
	}
}

// Processes sharing the mux's connection together stay within sshd's
// MaxSessions: each may use 8 sessions, the mux opens at most 9.
func TestMuxCapsChannels(t *testing.T) {
	f := newFixture(t)
	m, _ := startTestMux(t, time.Minute)
	var wg sync.WaitGroup
	for range 3 {
		h, err := muxPool(t, f, m).Get(context.Background(), f.target)
		if err != nil {
			t.Fatal(err)
		}
		for range 8 {
			wg.Go(func() {
				if res, err := h.Run(context.Background(), Command{Argv: []string{"sleep", "0.2"}}); err != nil || !res.OK() {
					t.Errorf("%+v %v", res, err)
				}
			})
		}
	}
	wg.Wait()
	if n := f.srv.maxSessions.Load(); n > 9 || n < 8 {
		t.Errorf("%d sessions at once on the host, want 8 or 9 (sshd's MaxSessions is 10)", n)
	}
}

// The mux runs elsewhere (in /, maybe with another HOME): the client
// sends it absolute file names.
func TestMuxRequestHasAbsolutePaths(t *testing.T) {
	f := newFixture(t)
	dir := filepath.Dir(f.target.KeyFiles[0])
	t.Chdir(dir)
	sock := filepath.Join(t.TempDir(), "m.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan muxRequest, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		var req muxRequest
		line, _ := readLine(bufio.NewReader(c))
		_ = json.Unmarshal(line, &req)
		got <- req
	}()
	tg := f.target
	tg.KeyFiles = []string{filepath.Base(tg.KeyFiles[0])}
	o := f.options()
	o.KnownHostsFile = "./" + filepath.Base(o.KnownHostsFile)
	o.Mux = &Mux{Socket: sock, Persist: time.Minute}
	if filepath.Dir(f.options().KnownHostsFile) != dir {
		t.Fatal("the fixture keeps known_hosts and the key in different directories")
	}
	// The fake mux hangs up: the pool dials directly, with the relative names.
	if _, err := NewPoolOrFatal(t, o).Get(context.Background(), tg); err != nil {
		t.Fatal(err)
	}
	req := <-got
	if req.KnownHosts != f.options().KnownHostsFile || len(req.Target.KeyFiles) != 1 || req.Target.KeyFiles[0] != f.target.KeyFiles[0] {
		t.Errorf("sent known_hosts %q, keys %q; want %q, %q", req.KnownHosts, req.Target.KeyFiles, f.options().KnownHostsFile, f.target.KeyFiles)
	}
}
