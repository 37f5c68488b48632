package hostexec

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"
)

// ServeMux runs a connection mux on socket (see mux.go) until ctx ends, a
// client asks it to stop, or it has had no client and no connection for
// idle. It returns nil at once when another mux already serves socket
// (the lock file socket+".lock" is held by the mux that serves).
func ServeMux(ctx context.Context, socket string, idle time.Duration, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	lock, err := os.OpenFile(socket+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil
		}
		return fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	if err := os.Remove(socket); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	ln, err := net.Listen("unix", socket)
	if err != nil {
		return err
	}
	defer ln.Close() // removes the socket
	if err := os.Chmod(socket, 0o600); err != nil {
		return err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	hostKey, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return err
	}
	s := &muxServer{
		log:        log,
		idle:       idle,
		sshConfig:  &ssh.ServerConfig{NoClientAuth: true, Config: ssh.Config{Ciphers: []string{"aes128-gcm@openssh.com"}}},
		pools:      map[string]*Pool{},
		ups:        map[string]*upstream{},
		lastActive: time.Now(),
		stop:       make(chan struct{}),
	}
	s.sshConfig.AddHostKey(hostKey)
	defer s.closeAll()
	log.Info("ssh mux serving", "socket", socket, "idle", idle)

	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			s.begin()
			go func() {
				defer s.end()
				s.handle(ctx, nc)
			}()
		}
	}()
	tick := min(max(idle/4, 100*time.Millisecond), 5*time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.stop:
			log.Info("ssh mux stopped by request")
			return nil
		case <-t.C:
			if s.reap() {
				log.Info("ssh mux idle; exiting", "idle", idle)
				return nil
			}
		}
	}
}

// muxMaxChannels caps the channels the mux opens at once on one host
// connection, whatever number of clients share it: sshd's MaxSessions
// defaults to 10, and one cl process uses at most 8 plus one to kill a
// cancelled command. More wait for a free one.
const muxMaxChannels = 9

type muxServer struct {
	log       *slog.Logger
	idle      time.Duration
	sshConfig *ssh.ServerConfig
	stopOnce  sync.Once
	stop      chan struct{}

	mu         sync.Mutex
	pools      map[string]*Pool     // dialers, by the options that shape a connection
	ups        map[string]*upstream // connections, by pool key and target
	clients    int                  // client sockets open now
	lastActive time.Time
}

// upstream is the mux's connection to one target.
type upstream struct {
	key      string
	base     string // key without the files' versions
	desc     string
	pool     *Pool
	target   Target
	dialLock chan struct{}
	slots    chan struct{} // channels open on the host's connection: muxMaxChannels

	// guarded by muxServer.mu
	superseded bool // the files it was made with changed since
	users      int
	persist    time.Duration
	since      time.Time
	lastUsed   time.Time
	client     *ssh.Client
	dead       chan struct{}
}

func (s *muxServer) begin() {
	s.mu.Lock()
	s.clients++
	s.lastActive = time.Now()
	s.mu.Unlock()
}

func (s *muxServer) end() {
	s.mu.Lock()
	s.clients--
	s.lastActive = time.Now()
	s.mu.Unlock()
}

// reap closes connections unused for their persist time and reports
// whether the mux has been idle long enough to exit.
func (s *muxServer) reap() bool {
	now := time.Now()
	var closing []*ssh.Client
	s.mu.Lock()
	for k, u := range s.ups {
		if u.users == 0 && now.Sub(u.lastUsed) >= u.persist {
			if u.client != nil {
				closing = append(closing, u.client)
			}
			delete(s.ups, k)
		}
	}
	done := len(s.ups) == 0 && s.clients == 0 && now.Sub(s.lastActive) >= s.idle
	s.mu.Unlock()
	for _, c := range closing {
		c.Close()
	}
	return done
}

func (s *muxServer) closeAll() {
	s.mu.Lock()
	ups := s.ups
	s.ups = map[string]*upstream{}
	s.mu.Unlock()
	for _, u := range ups {
		if u.client != nil {
			u.client.Close()
		}
	}
}

func (s *muxServer) handle(ctx context.Context, nc net.Conn) {
	defer nc.Close()
	if err := samePeer(nc); err != nil {
		s.log.Warn("ssh mux: refused a client", "err", err)
		return
	}
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(nc)
	line, err := readLine(br)
	if err != nil {
		return
	}
	var req muxRequest
	if err := json.Unmarshal(line, &req); err != nil {
		s.reply(nc, muxReply{Error: &muxError{Message: "bad request: " + err.Error()}})
		return
	}
	switch req.Op {
	case "status":
		s.reply(nc, muxReply{Conns: s.status()})
		return
	case "stop":
		s.reply(nc, muxReply{})
		s.stopOnce.Do(func() { close(s.stop) })
		return
	case "connect":
	default:
		s.reply(nc, muxReply{Error: &muxError{Message: fmt.Sprintf("unknown operation %q", req.Op)}})
		return
	}
	u, client, dead, err := s.connect(ctx, req)
	if err != nil {
		s.reply(nc, muxReply{Error: toMuxError(err)})
		return
	}
	defer s.release(u)
	_ = nc.SetDeadline(time.Now().Add(req.ConnectTimeout + 10*time.Second))
	if !s.reply(nc, muxReply{}) {
		return
	}
	sc, chans, reqs, err := ssh.NewServerConn(&bufferedConn{Conn: nc, r: br}, s.sshConfig)
	if err != nil {
		return
	}
	_ = nc.SetDeadline(time.Time{})
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-dead: // the host's connection died: so does the client's
			sc.Close()
		case <-done:
		}
	}()
	go func() {
		for r := range reqs {
			if r.Type != "keepalive@openssh.com" {
				if r.WantReply {
					_ = r.Reply(false, nil)
				}
				continue
			}
			// Answered by the host, so the client's keepalive measures it.
			ok, _, err := client.SendRequest(r.Type, true, r.Payload)
			if err != nil {
				sc.Close()
				return
			}
			if r.WantReply {
				_ = r.Reply(ok, nil)
			}
		}
	}()
	var wg sync.WaitGroup
	gone := make(chan struct{}) // the client's connection is closed
	for nch := range chans {
		wg.Go(func() {
			select {
			case u.slots <- struct{}{}:
				defer func() { <-u.slots }()
			case <-gone:
				return
			}
			relayChannel(client, nch)
		})
	}
	close(gone)
	sc.Close()
	wg.Wait()
}

func (s *muxServer) reply(nc net.Conn, rep muxReply) bool {
	b, err := json.Marshal(rep)
	if err != nil {
		return false
	}
	_, err = nc.Write(append(b, '\n'))
	return err == nil
}

// connect returns a live connection for req, dialling when there is none
// or the idle one does not answer a keepalive.
func (s *muxServer) connect(ctx context.Context, req muxRequest) (*upstream, *ssh.Client, chan struct{}, error) {
	if err := req.Target.validate(); err != nil {
		return nil, nil, nil, err
	}
	pool, pkey, err := s.pool(req)
	if err != nil {
		return nil, nil, nil, err
	}
	// A connection is reused only while the files that let it in are
	// unchanged: an edited known_hosts or a rotated key dials anew.
	base := pkey + "\x00" + req.Target.connKey()
	key := base + "\x00" + fileStamps(append([]string{req.KnownHosts}, req.Target.KeyFiles...))
	var stale []*ssh.Client
	s.mu.Lock()
	u := s.ups[key]
	if u == nil {
		// Connections made under the files' earlier versions will not
		// be used again: closed now when idle, else when released.
		for _, old := range s.ups {
			if old.base == base {
				old.superseded = true
				if c := s.dropIfUnused(old); c != nil {
					stale = append(stale, c)
				}
			}
		}
		var hops []string
		for _, e := range req.Target.chain() {
			hops = append(hops, e.user+"@"+e.addr)
		}
		u = &upstream{key: key, base: base, desc: strings.Join(hops, " > "), pool: pool, target: req.Target, dialLock: make(chan struct{}, 1), slots: make(chan struct{}, muxMaxChannels)}
		s.ups[key] = u
	}
	u.users++
	u.persist = max(req.Persist, 0)
	u.lastUsed = time.Now()
	s.mu.Unlock()
	for _, c := range stale {
		c.Close()
	}

	fail := func(err error) (*upstream, *ssh.Client, chan struct{}, error) {
		s.release(u)
		return nil, nil, nil, err
	}
	u.dialLock <- struct{}{}
	defer func() { <-u.dialLock }()
	s.mu.Lock()
	cl, dead := u.client, u.dead
	s.mu.Unlock()
	if cl != nil {
		select {
		case <-dead:
		default:
			switch err := ping(cl, pool.opts.ConnectTimeout); {
			case err == nil:
				return u, cl, dead, nil
			case errors.Is(err, ErrTimeout):
				cl.Close()
				return fail(fmt.Errorf("%w: %s did not answer a keepalive within %v", ErrTimeout, u.desc, pool.opts.ConnectTimeout))
			}
			cl.Close()
			<-dead
		}
	}
	cl, err = pool.connect(ctx, req.Target)
	if err != nil {
		return fail(err)
	}
	dead = make(chan struct{})
	s.mu.Lock()
	u.client, u.dead, u.since = cl, dead, time.Now()
	s.mu.Unlock()
	log := s.log.With("host", u.desc)
	log.Info("ssh connected")
	go func() {
		err := cl.Wait()
		close(dead)
		log.Info("ssh connection closed", "err", err)
	}()
	go pool.keepalive(cl, dead, log)
	return u, cl, dead, nil
}

// fileStamps identifies the versions of files: inode, size and
// modification time of each ("-" for one that cannot be read).
func fileStamps(paths []string) string {
	var b strings.Builder
	for _, p := range paths {
		p, err := expandHome(p)
		var fi os.FileInfo
		if err == nil {
			fi, err = os.Stat(p)
		}
		if err != nil {
			b.WriteString("-;")
			continue
		}
		b.WriteString(fileStamp(fi) + ";")
	}
	return b.String()
}

// ping sends one keepalive and waits up to timeout for the answer.
func ping(cl *ssh.Client, timeout time.Duration) error {
	reply := make(chan error, 1)
	go func() {
		_, _, err := cl.SendRequest("keepalive@openssh.com", true, nil)
		reply <- err
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-reply:
		return err
	case <-t.C:
		return ErrTimeout
	}
}

func (s *muxServer) release(u *upstream) {
	s.mu.Lock()
	u.users--
	u.lastUsed = time.Now()
	var c *ssh.Client
	if u.superseded {
		c = s.dropIfUnused(u)
	}
	s.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// dropIfUnused forgets u when nobody uses it and returns its connection
// for the caller to close outside s.mu. Called with s.mu held.
func (s *muxServer) dropIfUnused(u *upstream) *ssh.Client {
	if u.users > 0 || s.ups[u.key] != u {
		return nil
	}
	delete(s.ups, u.key)
	return u.client
}

// pool returns the dialer for req's connection options.
func (s *muxServer) pool(req muxRequest) (*Pool, string, error) {
	key := fmt.Sprintf("%s\x00%s\x00%d\x00%t\x00%s", req.KnownHosts, req.Policy, req.ConnectTimeout, req.Agent, req.AgentSocket)
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.pools[key]; p != nil {
		return p, key, nil
	}
	p, err := NewPool(Options{
		KnownHostsFile: req.KnownHosts, Policy: req.Policy, ConnectTimeout: req.ConnectTimeout,
		Agent: req.Agent, AgentSocket: req.AgentSocket, Logger: s.log,
	})
	if err != nil {
		return nil, "", err
	}
	s.pools[key] = p
	return p, key, nil
}

func (s *muxServer) status() []MuxConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []MuxConn{}
	for _, u := range s.ups {
		if u.client == nil {
			continue
		}
		out = append(out, MuxConn{Target: u.desc, Since: u.since, LastUsed: u.lastUsed, Clients: u.users})
	}
	return out
}

// relayChannel opens nch's twin on the host's connection and relays
// between the two until both are done: data and extended data (stderr)
// both ways, EOF, and requests both ways in order (exec, signal,
// exit-status…).
func relayChannel(up *ssh.Client, nch ssh.NewChannel) {
	uch, ureqs, err := up.OpenChannel(nch.ChannelType(), nch.ExtraData())
	if err != nil {
		var oe *ssh.OpenChannelError
		if errors.As(err, &oe) {
			_ = nch.Reject(oe.Reason, oe.Message)
		} else {
			_ = nch.Reject(ssh.ConnectionFailed, err.Error())
		}
		return
	}
	dch, dreqs, err := nch.Accept()
	if err != nil {
		uch.Close()
		return
	}
	// The client's requests are answered before its channel is closed:
	// a fast command's exit and close can come back from the host before
	// the answer to its exec request is passed on.
	var answering sync.WaitGroup
	var out sync.WaitGroup // host → client: data, stderr, requests
	out.Add(2)
	go func() {
		defer out.Done()
		pipe(dch, uch)
	}()
	go func() {
		defer out.Done()
		forwardRequests(ureqs, dch, nil)
	}()
	go pipe(uch, dch)
	go func() {
		forwardRequests(dreqs, uch, &answering)
		uch.Close() // the client closed its channel
	}()
	out.Wait()
	answering.Wait()
	dch.Close()
	uch.Close()
}

// pipe copies src's data and extended data (stderr) to dst, then sends
// dst EOF once both are done.
func pipe(dst, src ssh.Channel) {
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = io.Copy(dst, src) })
	wg.Go(func() { _, _ = io.Copy(dst.Stderr(), src.Stderr()) })
	wg.Wait()
	_ = dst.CloseWrite()
}

// forwardRequests sends each request of in on out and passes the answer
// back, until in is closed. When answering is not nil, it counts the
// requests not yet answered.
func forwardRequests(in <-chan *ssh.Request, out ssh.Channel, answering *sync.WaitGroup) {
	for r := range in {
		if answering != nil {
			answering.Add(1)
		}
		ok, err := out.SendRequest(r.Type, r.WantReply, r.Payload)
		if r.WantReply {
			_ = r.Reply(ok && err == nil, nil)
		}
		if answering != nil {
			answering.Done()
		}
	}
}
