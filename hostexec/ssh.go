package hostexec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
)

// sshHost is a Target on a pooled connection.
type sshHost struct {
	c     *conn
	t     Target
	owner *Pool // set by Dial: Close closes it
}

var _ Host = (*sshHost)(nil)

// Close closes the connection when the Host came from Dial; a Host from
// Pool.Get leaves it to the pool.
func (h *sshHost) Close() error {
	if h.owner != nil {
		return h.owner.Close()
	}
	return nil
}

// Upload streams r into a temporary file next to dst with `cat` over a
// session and renames it into place (see doc.go for why not scp).
func (h *sshHost) Upload(ctx context.Context, r io.Reader, dst string, mode fs.FileMode) error {
	return uploadViaRun(ctx, h, h.t.name(), r, dst, mode)
}

// ReadFile reads path on the host with `cat`.
func (h *sshHost) ReadFile(ctx context.Context, path string) ([]byte, error) {
	return readFileViaRun(ctx, h, h.t.name(), path)
}

// Run runs c in a new session on the pooled connection.
func (h *sshHost) Run(ctx context.Context, c Command) (Result, error) {
	return runCapped(ctx, h.t.name(), c, h.run)
}

func (h *sshHost) run(ctx context.Context, c Command) (Result, error) {
	name := h.t.name()
	res := Result{ExitCode: -1}
	fail := func(err error) (Result, error) { return res, fmt.Errorf("run on %s: %w", name, err) }
	if err := c.validate(); err != nil {
		return fail(err)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	select {
	case h.c.sessions <- struct{}{}:
		defer func() { <-h.c.sessions }()
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	client, sess, err := h.openSession(ctx)
	if err != nil {
		return res, fmt.Errorf("run on %s: %w", name, err)
	}
	defer sess.Close()

	stderr := &pidSniffer{w: orDiscard(c.Stderr)}
	sess.Stdout = orDiscard(c.Stdout)
	sess.Stderr = stderr
	stdinFailed := make(chan error, 1)
	if c.Stdin != nil {
		w, err := sess.StdinPipe()
		if err != nil {
			return fail(err)
		}
		go func() {
			tr := &trackingReader{r: c.Stdin}
			_, _ = io.Copy(w, tr)
			if tr.err != nil {
				// Do not send EOF: the command would take the truncated
				// input as complete. It is killed instead.
				stdinFailed <- tr.err
				return
			}
			w.Close()
		}()
	}

	start := time.Now()
	if err := sess.Start(remoteCommand(c, h.t.Become)); err != nil {
		return fail(h.transportError("start command", client, err))
	}
	waited := make(chan error, 1)
	go func() { waited <- sess.Wait() }()

	select {
	case err = <-waited:
		stderr.flush()
		res.Duration = time.Since(start)
	case <-ctx.Done():
		h.stop(client, sess, stderr, waited)
		res.Duration = time.Since(start)
		return fail(ctx.Err())
	case err := <-stdinFailed:
		h.stop(client, sess, stderr, waited)
		res.Duration = time.Since(start)
		return fail(fmt.Errorf("read stdin: %w", err))
	}
	var ee *ssh.ExitError
	switch {
	case err == nil:
		res.ExitCode = 0
		return res, nil
	case errors.As(err, &ee):
		res.ExitCode, res.Signal = ee.ExitStatus(), ee.Signal()
		return res, nil
	}
	return fail(h.transportError("wait for command", client, err))
}

// openSession opens a session, reconnecting once when the pooled
// connection turns out to be dead (nothing has run yet, so retrying is safe).
func (h *sshHost) openSession(ctx context.Context) (*ssh.Client, *ssh.Session, error) {
	for attempt := 0; ; attempt++ {
		client, err := h.c.get(ctx)
		if err != nil {
			return nil, nil, err
		}
		sess, err := client.NewSession()
		if err == nil {
			return client, sess, nil
		}
		err = h.transportError("open session", client, err)
		if attempt > 0 || !errors.Is(err, ErrConnLost) {
			return nil, nil, err
		}
		h.c.pool.opts.Logger.Debug("ssh connection found dead, reconnecting", "host", h.t.name(), "err", err)
	}
}

// transportError marks err as ErrConnLost when the connection died.
func (h *sshHost) transportError(op string, cl *ssh.Client, err error) error {
	select {
	case <-h.c.deadCh(cl):
		return fmt.Errorf("%s: %w: %w", op, ErrConnLost, err)
	case <-time.After(200 * time.Millisecond):
	}
	var missing *ssh.ExitMissingError
	if errors.As(err, &missing) {
		return fmt.Errorf("%s: %w: %w", op, ErrConnLost, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// stop ends a running remote command. Two mechanisms, because neither
// works everywhere:
//
//  1. a "signal" channel request (TERM, later KILL): OpenSSH ≥ 7.9 sends
//     it with killpg to the session's process group;
//  2. out of band: the command reported its process group id on stderr
//     (see remoteCommand), so a second session runs `kill -s TERM -- -PGID`
//     (later KILL), through sudo when the target becomes root. This works
//     with any sshd, with or without a pty.
//
// After KillGrace without the command ending, KILL follows, and then the
// session is closed.
func (h *sshHost) stop(cl *ssh.Client, sess *ssh.Session, marker *pidSniffer, waited <-chan error) {
	pool := h.c.pool
	select { // a command cancelled right after its start may not have reported yet
	case <-marker.ready():
	case <-waited:
		return
	case <-time.After(time.Second):
	}
	pgid := marker.pgid()
	if !pool.noSignal {
		_ = sess.Signal(ssh.SIGTERM)
	}
	if pgid > 0 && !pool.noGroupKill {
		go h.killGroup(cl, pgid, "TERM")
	}
	select {
	case <-waited:
		return
	case <-time.After(pool.opts.KillGrace):
	}
	if !pool.noSignal {
		_ = sess.Signal(ssh.SIGKILL)
	}
	if pgid > 0 && !pool.noGroupKill {
		h.killGroup(cl, pgid, "KILL")
	}
	sess.Close()
	select {
	case <-waited:
	case <-time.After(time.Second):
	}
}

// killGroup signals the remote process group pgid from a session of its
// own (outside the MaxSessionsPerHost slots, which the cancelled command
// may be holding; at most two such sessions run at once).
func (h *sshHost) killGroup(cl *ssh.Client, pgid int, sig string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	select {
	case h.c.kills <- struct{}{}:
		defer func() { <-h.c.kills }()
	case <-ctx.Done():
		return
	}
	sess, err := cl.NewSession()
	if err != nil {
		return
	}
	defer sess.Close()
	stop := context.AfterFunc(ctx, func() { sess.Close() })
	defer stop()
	kill := "kill -s " + sig + " -- -" + strconv.Itoa(pgid)
	if h.t.Become == BecomeSudo {
		kill = "exec sudo -n -- " + kill
	}
	if err := sess.Run("exec /bin/sh -c " + Quote(kill)); err != nil {
		h.c.pool.opts.Logger.Debug("kill remote process group", "host", h.t.name(), "pgid", pgid, "signal", sig, "err", err)
	}
}

// trackingReader remembers the first read error other than EOF.
type trackingReader struct {
	r   io.Reader
	err error
}

func (t *trackingReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF && t.err == nil {
		t.err = err
	}
	return n, err
}

// pidSniffer passes stderr through, except for the first line when it is
// the process group marker that remoteCommand prints.
type pidSniffer struct {
	w        io.Writer
	mu       sync.Mutex
	buf      []byte
	done     bool
	pid      atomic.Int64
	readyCh  chan struct{}
	initOnce sync.Once
}

// ready is closed once the first line has been seen (or given up on).
func (s *pidSniffer) ready() <-chan struct{} {
	s.initOnce.Do(func() { s.readyCh = make(chan struct{}) })
	return s.readyCh
}

func (s *pidSniffer) finish() {
	s.done, s.buf = true, nil
	s.ready()
	close(s.readyCh)
}

func (s *pidSniffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return s.w.Write(p)
	}
	i := bytes.IndexByte(p, '\n')
	if i < 0 && len(s.buf)+len(p) <= 64 {
		s.buf = append(s.buf, p...)
		return len(p), nil
	}
	out := append(s.buf, p...)
	s.finish()
	if i >= 0 {
		line := out[:len(out)-len(p)+i]
		if v, ok := bytes.CutPrefix(line, []byte(pidMarker)); ok {
			if pid, err := strconv.Atoi(string(v)); err == nil && pid > 1 {
				s.pid.Store(int64(pid))
				out = out[len(line)+1:]
			}
		}
	}
	if len(out) > 0 {
		if _, err := s.w.Write(out); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// flush forwards a partial first line left at the end of the stream.
func (s *pidSniffer) flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.done {
		_, _ = s.w.Write(s.buf)
		s.finish()
	}
}

func (s *pidSniffer) pgid() int { return int(s.pid.Load()) }
