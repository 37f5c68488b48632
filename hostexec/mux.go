package hostexec

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// The connection mux: short-lived cl processes (cl plan, cl apply, cl host
// status…) share SSH connections through one background process per user
// and build, as OpenSSH's ControlMaster/ControlPersist do. A fresh SSH
// connection costs the host's sshd a fork, a re-exec and a key exchange
// (about 0.1 CPU-second each with OpenSSH 9 on a small machine); the mux
// pays that once per host and keeps the connection for Mux.Persist after
// its last user left.
//
// The client connects to the mux's unix socket, sends one JSON line (what
// it would dial: the Target and the options that shape a connection) and
// reads one JSON line back: either the mux's connection to that target is
// up (made now, or an idle one that answered a keepalive), or the error
// the dial failed with, classified as a direct dial classifies it
// (refused, timeout, host key…, a *HostKeyError with its fields), so
// callers cannot tell the difference. Then the same socket carries SSH:
// the mux is an SSH server to the client and relays every channel the
// client opens (sessions, direct-tcpip) and its requests, data and EOF to
// a channel on the upstream connection, and the upstream's replies back.
//
// Trust: the socket lives in a directory of this user's, mode 0700 (its
// ownership and mode are checked before use), and both ends check the
// other's user id with SO_PEERCRED, so only this user's processes talk to
// it; the SSH layer on the socket is framing, not authentication. Errors
// the mux cannot reproduce faithfully — reading key files, an encrypted
// key the client could prompt for, anything unclassified — make the
// client dial directly instead, as it does when no mux can be reached or
// started.

// Mux configures the use of a connection mux.
type Mux struct {
	Socket  string        // the mux's unix socket
	Persist time.Duration // how long the mux keeps a connection nobody uses
	// Command starts a mux serving Socket (`cl mux serve …`) when nothing
	// answers there; it is started detached, in its own session, with
	// stdin and stdout on /dev/null, stderr on Socket+".log", in "/". Nil:
	// never start one.
	Command []string
}

// MuxSocket returns the socket path of this user's mux for the running
// executable: one per build (the executable's path, inode, size and
// modification time), so two builds never talk to each other, in a
// directory that must be this user's and mode 0700:
// $XDG_RUNTIME_DIR/celeroot when XDG_RUNTIME_DIR is set, else
// $TMPDIR/celeroot-<uid>. The directory is created when missing.
func MuxSocket() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(exe)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s", exe, fileStamp(fi)))
	dir := filepath.Join(os.TempDir(), "celeroot-"+strconv.Itoa(os.Getuid()))
	if rt := os.Getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(rt) {
		dir = filepath.Join(rt, "celeroot")
	}
	if err := privateDir(dir); err != nil {
		return "", err
	}
	sock := filepath.Join(dir, "ssh-"+hex.EncodeToString(sum[:8])+".sock")
	if len(sock) > 100 { // sun_path holds 108 bytes
		return "", fmt.Errorf("mux socket path %s is too long for a unix socket", sock)
	}
	return sock, nil
}

// privateDir makes sure dir exists, is a directory (not a symlink), is
// owned by this user and is not open to others.
func privateDir(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	case !ok || int(st.Uid) != os.Getuid():
		return fmt.Errorf("%s is not owned by this user (uid %d)", dir, os.Getuid())
	case fi.Mode().Perm()&0o077 != 0:
		return fmt.Errorf("%s is open to other users (mode %v); remove it or chmod 700 it", dir, fi.Mode().Perm())
	}
	return nil
}

// samePeer checks that the process at the other end of a unix socket runs
// as this user.
func samePeer(c net.Conn) error {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return errors.New("not a unix socket")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return err
	}
	var uid int
	var cerr error
	if err := raw.Control(func(fd uintptr) { uid, cerr = peerUID(int(fd)) }); err != nil {
		return err
	}
	if cerr != nil {
		return cerr
	}
	if uid != os.Getuid() {
		return fmt.Errorf("peer runs as uid %d, not %d", uid, os.Getuid())
	}
	return nil
}

// fileStamp identifies a version of a file: device, inode, size and
// modification time.
func fileStamp(fi os.FileInfo) string {
	var dev, ino uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		dev, ino = uint64(st.Dev), st.Ino
	}
	return fmt.Sprintf("%d:%d:%d:%d", dev, ino, fi.Size(), fi.ModTime().UnixNano())
}

// muxRequest is the client's first line: an operation and, for "connect",
// everything that decides which connection it gets.
type muxRequest struct {
	Op             string        `json:"op"` // connect, status, stop
	Target         Target        `json:"target"`
	KnownHosts     string        `json:"known_hosts"`
	Policy         HostKeyPolicy `json:"policy"`
	ConnectTimeout time.Duration `json:"connect_timeout"`
	Agent          bool          `json:"agent"`
	AgentSocket    string        `json:"agent_socket"`
	Persist        time.Duration `json:"persist"`
}

// muxReply is the mux's answer line.
type muxReply struct {
	Error *muxError `json:"error,omitempty"`
	Conns []MuxConn `json:"conns,omitempty"` // status
}

// muxError is a dial error as it crosses the socket.
type muxError struct {
	Reason  string        `json:"reason"` // Reason(err); "" for an error the client must reproduce itself
	Message string        `json:"message"`
	HostKey *HostKeyError `json:"host_key,omitempty"`
}

// MuxConn is one connection a mux holds (cl mux status).
type MuxConn struct {
	Target   string    `json:"target"` // user@host:port, through jump hosts
	Since    time.Time `json:"since"`
	LastUsed time.Time `json:"last_used"`
	Clients  int       `json:"clients"` // processes using it now
}

// reasonErrors maps Reason's words back to the sentinels.
var reasonErrors = map[string]error{
	"host key mismatch": ErrHostKeyMismatch,
	"host key unknown":  ErrHostKeyUnknown,
	"auth failed":       ErrAuthFailed,
	"refused":           ErrRefused,
	"timeout":           ErrTimeout,
	"unreachable":       ErrUnreachable,
	"connection lost":   ErrConnLost,
}

// relayedError is a dial error the mux reported: its text, and the
// sentinel its reason names.
type relayedError struct {
	msg    string
	reason error
}

func (e *relayedError) Error() string { return e.msg }
func (e *relayedError) Unwrap() error { return e.reason }

// toMuxError turns a dial error into its wire form; Reason "" when the
// client should dial itself to get the real error.
func toMuxError(err error) *muxError {
	var hk *HostKeyError
	var ke keysError
	switch {
	case errors.As(err, &hk):
		return &muxError{Reason: Reason(err), Message: err.Error(), HostKey: hk}
	case errors.As(err, &ke):
		return &muxError{Message: err.Error()}
	}
	if r := Reason(err); reasonErrors[r] != nil {
		return &muxError{Reason: r, Message: err.Error()}
	}
	return &muxError{Message: err.Error()}
}

// err rebuilds the error on the client; nil when the client must dial.
func (e *muxError) err() error {
	if e.HostKey != nil {
		return e.HostKey
	}
	if s := reasonErrors[e.Reason]; s != nil {
		return &relayedError{msg: e.Message, reason: s}
	}
	return nil
}

// keysError marks an error from gathering the keys to offer (reading key
// files, the agent, a passphrase): a mux reports it as one the client must
// reproduce itself, since the client may be able to prompt.
type keysError struct{ error }

func (e keysError) Unwrap() error { return e.error }

// muxStarts holds, per socket, this process's start of a mux there: it
// starts each at most once, and concurrent dials wait for that one start.
var muxStarts sync.Map // socket → *muxStart

type muxStart struct {
	done chan struct{} // closed when the mux answers, or gave up
	err  error
}

// viaMux gets t's connection through the mux. ok is false when the mux
// cannot serve it (none running and none can be started, or an error the
// client must reproduce): the caller dials directly.
func (p *Pool) viaMux(ctx context.Context, t Target) (cl *ssh.Client, err error, ok bool) {
	m := p.opts.Mux
	log := p.opts.Logger.With("host", t.name(), "mux", m.Socket)
	nc, err := dialMux(ctx, m)
	if err != nil {
		log.Debug("ssh mux not used", "err", err)
		return nil, nil, false
	}
	req := muxRequest{
		Op: "connect", Target: t, KnownHosts: p.opts.KnownHostsFile, Policy: p.opts.Policy,
		ConnectTimeout: p.opts.ConnectTimeout, Agent: p.opts.Agent, AgentSocket: p.opts.AgentSocket, Persist: m.Persist,
	}
	if req.Agent && req.AgentSocket == "" {
		req.AgentSocket = os.Getenv("SSH_AUTH_SOCK")
	}
	// The mux runs in another directory, maybe with another HOME.
	req.Target.KeyFiles = nil
	for _, f := range t.KeyFiles {
		req.Target.KeyFiles = append(req.Target.KeyFiles, absPath(f))
	}
	req.KnownHosts, req.AgentSocket = absPath(req.KnownHosts), absPath(req.AgentSocket)
	// The mux answers within its dial's deadline: one per hop, and one
	// keepalive round trip.
	deadline := time.Now().Add(time.Duration(len(t.Jump)+2)*p.opts.ConnectTimeout + 5*time.Second)
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	var rep muxReply
	bc, err := muxRoundTrip(nc, req, &rep, deadline)
	if err != nil {
		nc.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err(), true
		}
		log.Debug("ssh mux failed; dialling directly", "err", err)
		return nil, nil, false
	}
	if rep.Error != nil {
		nc.Close()
		if e := rep.Error.err(); e != nil {
			return nil, e, true
		}
		log.Debug("ssh mux could not connect; dialling directly", "err", rep.Error.Message)
		return nil, nil, false
	}
	c, chans, reqs, err := ssh.NewClientConn(bc, "celeroot-mux", &ssh.ClientConfig{
		User: "celeroot",
		// The mux was authenticated by SO_PEERCRED (same user) on a
		// socket in a private directory; its SSH host key is throwaway.
		HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		Config:          ssh.Config{Ciphers: []string{"aes128-gcm@openssh.com"}},
	})
	if err != nil {
		nc.Close()
		log.Debug("ssh mux handshake failed; dialling directly", "err", err)
		return nil, nil, false
	}
	_ = nc.SetDeadline(time.Time{})
	log.Debug("ssh connected through the mux")
	return ssh.NewClient(c, chans, reqs), nil, true
}

// absPath makes a file name absolute, expanding a leading ~; "" stays "".
func absPath(p string) string {
	if p == "" {
		return ""
	}
	if e, err := expandHome(p); err == nil {
		p = e
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// dialMux connects to the mux's socket, starting the mux when nothing
// listens there and m.Command is set.
func dialMux(ctx context.Context, m *Mux) (net.Conn, error) {
	d := net.Dialer{Timeout: time.Second}
	nc, err := d.DialContext(ctx, "unix", m.Socket)
	if err != nil && len(m.Command) > 0 && (errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED)) {
		st := &muxStart{done: make(chan struct{})}
		if prev, loaded := muxStarts.LoadOrStore(m.Socket, st); loaded {
			st = prev.(*muxStart)
		} else {
			st.err = startMux(ctx, m)
			close(st.done)
		}
		select {
		case <-st.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if st.err != nil {
			return nil, st.err
		}
		nc, err = d.DialContext(ctx, "unix", m.Socket)
	}
	if err != nil {
		return nil, err
	}
	if err := samePeer(nc); err != nil {
		nc.Close()
		return nil, fmt.Errorf("mux socket %s: %w", m.Socket, err)
	}
	return nc, nil
}

// startMux starts m.Command detached and waits until its socket answers.
func startMux(ctx context.Context, m *Mux) error {
	logf, err := os.OpenFile(m.Socket+".log", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(m.Command[0], m.Command[1:]...)
	cmd.Stderr = logf
	cmd.Dir = "/" // not to keep the starting command's directory busy
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	if err := cmd.Process.Release(); err != nil {
		return err
	}
	for end := time.Now().Add(3 * time.Second); ctx.Err() == nil; time.Sleep(2 * time.Millisecond) {
		nc, err := net.DialTimeout("unix", m.Socket, time.Second)
		if err == nil {
			nc.Close()
			return nil
		}
		if time.Now().After(end) {
			return fmt.Errorf("mux did not start within 3s (see %s.log): %w", m.Socket, err)
		}
	}
	return ctx.Err()
}

// muxRoundTrip sends req as one line and reads one reply line into rep.
// It returns the connection to go on with: reads first drain what was
// buffered past the reply.
func muxRoundTrip(nc net.Conn, req muxRequest, rep *muxReply, deadline time.Time) (net.Conn, error) {
	_ = nc.SetDeadline(deadline)
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if _, err := nc.Write(append(b, '\n')); err != nil {
		return nil, err
	}
	br := bufio.NewReader(nc)
	line, err := readLine(br)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(line, rep); err != nil {
		return nil, fmt.Errorf("mux reply: %w", err)
	}
	return &bufferedConn{Conn: nc, r: br}, nil
}

// readLine reads one line of at most 1 MiB.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, isPrefix, err := br.ReadLine()
		if err != nil {
			return nil, err
		}
		line = append(line, chunk...)
		if len(line) > 1<<20 {
			return nil, errors.New("mux line longer than 1 MiB")
		}
		if !isPrefix {
			return line, nil
		}
	}
}

// bufferedConn is a connection whose reads go through a bufio.Reader that
// may hold bytes already read.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// MuxControl sends a control operation ("status" or "stop") to the mux at
// socket; status returns its connections. It fails when no mux runs.
func MuxControl(ctx context.Context, socket, op string) ([]MuxConn, error) {
	nc, err := dialMux(ctx, &Mux{Socket: socket})
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	var rep muxReply
	if _, err := muxRoundTrip(nc, muxRequest{Op: op}, &rep, time.Now().Add(10*time.Second)); err != nil {
		return nil, err
	}
	if rep.Error != nil {
		return nil, errors.New(rep.Error.Message)
	}
	return rep.Conns, nil
}
