package hostexec

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// testServer is an in-process SSH server on 127.0.0.1:0. It runs "exec"
// requests with /bin/sh -c in a session of their own (as sshd does),
// answers "signal" with killpg, returns exit-status/exit-signal, opens
// direct-tcpip channels (so it can be a jump host) and answers keepalives.
type testServer struct {
	t          *testing.T
	ln         net.Listener
	addr       string
	port       int
	hostKeys   []ssh.Signer
	authorized map[string]bool

	wantPort        int         // listen on this port instead of a free one
	silent          bool        // accept TCP, never speak SSH
	ignoreKeepalive atomic.Bool // stop answering global requests

	conns       atomic.Int32 // TCP connections accepted
	sessions    atomic.Int32 // open session channels
	maxSessions atomic.Int32

	mu    sync.Mutex
	procs map[*os.Process]bool
	nconn []net.Conn
}

type serverOpt func(*testServer)

func withHostKeys(s ...ssh.Signer) serverOpt { return func(ts *testServer) { ts.hostKeys = s } }
func silent() serverOpt                      { return func(ts *testServer) { ts.silent = true } }
func onPort(p int) serverOpt                 { return func(ts *testServer) { ts.wantPort = p } }

func newTestServer(t *testing.T, clientKey ssh.PublicKey, opts ...serverOpt) *testServer {
	t.Helper()
	ts := &testServer{t: t, addr: "127.0.0.1", authorized: map[string]bool{}, procs: map[*os.Process]bool{}}
	if clientKey != nil {
		ts.authorized[string(clientKey.Marshal())] = true
	}
	for _, o := range opts {
		o(ts)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(ts.addr, strconv.Itoa(ts.wantPort)))
	if err != nil {
		t.Fatal(err)
	}
	ts.ln, ts.port = ln, ln.Addr().(*net.TCPAddr).Port
	if len(ts.hostKeys) == 0 {
		ts.hostKeys = []ssh.Signer{newSigner(t, "ed25519")}
	}
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
			ts.mu.Lock()
			ok := ts.authorized[string(k.Marshal())]
			ts.mu.Unlock()
			if ok {
				return nil, nil
			}
			return nil, errors.New("key not authorized")
		},
	}
	for _, k := range ts.hostKeys {
		cfg.AddHostKey(k)
	}
	go ts.serve(cfg)
	t.Cleanup(ts.Close)
	return ts
}

func (ts *testServer) authorize(k ssh.PublicKey) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.authorized[string(k.Marshal())] = true
}

func (ts *testServer) target() Target {
	return Target{Name: "test-" + strconv.Itoa(ts.port), Address: ts.addr, Port: ts.port, User: "tester"}
}

// knownHostsLine is ts's line for known_hosts (its first host key).
func (ts *testServer) knownHostsLine(keys ...ssh.PublicKey) string {
	if len(keys) == 0 {
		keys = []ssh.PublicKey{ts.hostKeys[0].PublicKey()}
	}
	var s string
	for _, k := range keys {
		s += knownhosts.Line([]string{net.JoinHostPort(ts.addr, strconv.Itoa(ts.port))}, k) + "\n"
	}
	return s
}

func (ts *testServer) Close() {
	ts.ln.Close()
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for p := range ts.procs {
		_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
	}
	for _, c := range ts.nconn {
		c.Close()
	}
}

// dropConnections closes every TCP connection (a host that went away).
func (ts *testServer) dropConnections() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for _, c := range ts.nconn {
		c.Close()
	}
	ts.nconn = nil
}

func (ts *testServer) serve(cfg *ssh.ServerConfig) {
	for {
		nc, err := ts.ln.Accept()
		if err != nil {
			return
		}
		ts.conns.Add(1)
		ts.mu.Lock()
		ts.nconn = append(ts.nconn, nc)
		ts.mu.Unlock()
		if ts.silent {
			continue // hold the connection open, say nothing
		}
		go ts.handleConn(nc, cfg)
	}
}

func (ts *testServer) handleConn(nc net.Conn, cfg *ssh.ServerConfig) {
	sc, chans, reqs, err := ssh.NewServerConn(nc, cfg)
	if err != nil {
		nc.Close()
		return
	}
	defer sc.Close()
	go func() {
		for r := range reqs {
			if ts.ignoreKeepalive.Load() {
				continue // never reply: the host looks dead
			}
			if r.WantReply {
				r.Reply(r.Type == "keepalive@openssh.com", nil)
			}
		}
	}()
	for nch := range chans {
		switch nch.ChannelType() {
		case "session":
			go ts.handleSession(nch)
		case "direct-tcpip":
			go handleDirectTCPIP(nch)
		default:
			nch.Reject(ssh.UnknownChannelType, "unsupported")
		}
	}
}

func handleDirectTCPIP(nch ssh.NewChannel) {
	var m struct {
		Host     string
		Port     uint32
		OrigHost string
		OrigPort uint32
	}
	if err := ssh.Unmarshal(nch.ExtraData(), &m); err != nil {
		nch.Reject(ssh.ConnectionFailed, "bad payload")
		return
	}
	c, err := net.Dial("tcp", net.JoinHostPort(m.Host, strconv.Itoa(int(m.Port))))
	if err != nil {
		nch.Reject(ssh.ConnectionFailed, "Connection refused")
		return
	}
	ch, reqs, err := nch.Accept()
	if err != nil {
		c.Close()
		return
	}
	go ssh.DiscardRequests(reqs)
	go func() { io.Copy(ch, c); ch.CloseWrite() }()
	io.Copy(c, ch)
	c.Close()
	ch.Close()
}

func (ts *testServer) handleSession(nch ssh.NewChannel) {
	ch, reqs, err := nch.Accept()
	if err != nil {
		return
	}
	n := ts.sessions.Add(1)
	for {
		m := ts.maxSessions.Load()
		if n <= m || ts.maxSessions.CompareAndSwap(m, n) {
			break
		}
	}
	// Count the session closed when the server closes it: the client
	// learns of the end only from that close.
	var closeOnce sync.Once
	closed := func() { closeOnce.Do(func() { ts.sessions.Add(-1) }) }
	defer closed()
	defer ch.Close()
	var cmd *exec.Cmd
	done := make(chan struct{})
	for req := range reqs {
		switch req.Type {
		case "exec":
			if cmd != nil {
				req.Reply(false, nil)
				continue
			}
			var m struct{ Command string }
			ssh.Unmarshal(req.Payload, &m)
			cmd = exec.Command("/bin/sh", "-c", m.Command)
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
			cmd.Stdout, cmd.Stderr = ch, ch.Stderr()
			stdin, _ := cmd.StdinPipe()
			if err := cmd.Start(); err != nil {
				req.Reply(false, nil)
				return
			}
			ts.mu.Lock()
			ts.procs[cmd.Process] = true
			ts.mu.Unlock()
			req.Reply(true, nil)
			go func() { io.Copy(stdin, ch); stdin.Close() }()
			go func() {
				defer close(done)
				cmd.Wait()
				ts.mu.Lock()
				delete(ts.procs, cmd.Process)
				ts.mu.Unlock()
				ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
				if ws.Signaled() {
					name := signalNames[ws.Signal()]
					ch.SendRequest("exit-signal", false, ssh.Marshal(struct {
						Signal     string
						CoreDumped bool
						Error      string
						Lang       string
					}{Signal: name}))
				} else {
					b := make([]byte, 4)
					binary.BigEndian.PutUint32(b, uint32(ws.ExitStatus()))
					ch.SendRequest("exit-status", false, b)
				}
				closed()
				ch.Close()
			}()
		case "signal":
			var m struct{ Signal string }
			ssh.Unmarshal(req.Payload, &m)
			if cmd != nil && cmd.Process != nil {
				for sig, name := range signalNames {
					if name == m.Signal {
						_ = syscall.Kill(-cmd.Process.Pid, sig)
					}
				}
			}
		default:
			if req.WantReply {
				req.Reply(req.Type == "env", nil)
			}
		}
	}
	if cmd != nil {
		<-done
	}
}

var signalNames = map[syscall.Signal]string{
	syscall.SIGTERM: "TERM", syscall.SIGKILL: "KILL", syscall.SIGINT: "INT", syscall.SIGHUP: "HUP",
}

// newSigner makes a fresh key of kind ed25519, ecdsa or rsa.
func newSigner(t testing.TB, kind string) ssh.Signer {
	t.Helper()
	s, err := ssh.NewSignerFromKey(newPrivateKey(t, kind))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newPrivateKey(t testing.TB, kind string) any {
	t.Helper()
	var k any
	var err error
	switch kind {
	case "ed25519":
		_, k, err = ed25519.GenerateKey(rand.Reader)
	case "ecdsa":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "rsa":
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		err = fmt.Errorf("unknown key kind %s", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// writeKey writes a private key in OpenSSH format (encrypted when a
// passphrase is given) and returns its path and public key.
func writeKey(t testing.TB, dir, name string, passphrase []byte) (string, ssh.PublicKey) {
	t.Helper()
	return writeKeyFrom(t, newPrivateKey(t, "ed25519"), dir, name, passphrase)
}

func writeKeyFrom(t testing.TB, priv any, dir, name string, passphrase []byte) (string, ssh.PublicKey) {
	t.Helper()
	var block *pem.Block
	var err error
	if passphrase != nil {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "test", passphrase)
	} else {
		block, err = ssh.MarshalPrivateKey(priv, "test")
	}
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return path, s.PublicKey()
}

// fixture is a test server with a client key and a known_hosts that
// trusts it.
type fixture struct {
	srv        *testServer
	keyFile    string
	knownHosts string
	target     Target
}

func newFixture(t *testing.T, opts ...serverOpt) *fixture {
	t.Helper()
	dir := t.TempDir()
	keyFile, pub := writeKey(t, dir, "id_ed25519", nil)
	srv := newTestServer(t, pub, opts...)
	kh := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(kh, []byte(srv.knownHostsLine()), 0o600); err != nil {
		t.Fatal(err)
	}
	tg := srv.target()
	tg.KeyFiles = []string{keyFile}
	return &fixture{srv: srv, keyFile: keyFile, knownHosts: kh, target: tg}
}

func (f *fixture) options() Options {
	return Options{KnownHostsFile: f.knownHosts, ConnectTimeout: 5e9, KillGrace: 2e9}
}

func (f *fixture) pool(t *testing.T, mod ...func(*Options)) *Pool {
	t.Helper()
	o := f.options()
	for _, m := range mod {
		m(&o)
	}
	p, err := NewPool(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func mustPub(t testing.TB, keyFile string) ssh.PublicKey {
	t.Helper()
	b, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.ParsePrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return s.PublicKey()
}
