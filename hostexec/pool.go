package hostexec

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// Pool hands out Hosts reached over SSH. It keeps one long-lived
// connection per target (through its jump hosts), runs at most
// MaxSessionsPerHost sessions on it at once, caps concurrent connection
// attempts at MaxHandshakes, reconnects when a connection died, and closes
// everything on Close. A Pool is safe for concurrent use.
type Pool struct {
	opts       Options
	auth       *authenticator
	hostKeys   *knownHosts
	handshakes chan struct{}

	mu     sync.Mutex
	conns  map[string]*conn
	closed bool

	// Test hooks: disable one of the two kill-on-cancel mechanisms to
	// prove the other on its own.
	noSignal, noGroupKill bool
}

// NewPool returns an empty pool; connections are made by Get.
func NewPool(opts Options) (*Pool, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("ssh options: %w", err)
	}
	return &Pool{
		opts:       o,
		auth:       &authenticator{useAgent: o.Agent, sock: o.AgentSocket, prompt: o.PassphrasePrompt, log: o.Logger},
		hostKeys:   &knownHosts{file: o.KnownHostsFile, policy: o.Policy, log: o.Logger},
		handshakes: make(chan struct{}, o.MaxHandshakes),
		conns:      map[string]*conn{},
	}, nil
}

// Dial connects to t with a pool of its own; closing the Host closes the
// connection.
func Dial(ctx context.Context, t Target, opts Options) (Host, error) {
	p, err := NewPool(opts)
	if err != nil {
		return nil, err
	}
	h, err := p.get(ctx, t)
	if err != nil {
		p.Close()
		return nil, err
	}
	h.owner = p
	return h, nil
}

// Get returns a connected Host for t, dialling only when the pool has no
// live connection for it; concurrent Gets for one target dial once. The
// pool owns the connection: the Host's Close does nothing, Pool.Close
// closes it.
func (p *Pool) Get(ctx context.Context, t Target) (Host, error) {
	h, err := p.get(ctx, t)
	if err != nil {
		return nil, err
	}
	return h, nil
}

func (p *Pool) get(ctx context.Context, t Target) (*sshHost, error) {
	if err := t.validate(); err != nil {
		return nil, err
	}
	key := t.connKey()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, fmt.Errorf("connect %s: %w", t.name(), ErrPoolClosed)
	}
	c := p.conns[key]
	if c == nil {
		c = &conn{
			pool:     p,
			target:   t,
			sessions: make(chan struct{}, p.opts.MaxSessionsPerHost),
			kills:    make(chan struct{}, 2),
			dialLock: make(chan struct{}, 1),
		}
		p.conns[key] = c
	}
	p.mu.Unlock()
	if _, err := c.get(ctx); err != nil {
		return nil, err
	}
	return &sshHost{c: c, t: t}, nil
}

// Close closes every connection; Hosts from the pool stop working.
func (p *Pool) Close() error {
	p.mu.Lock()
	p.closed = true
	conns := p.conns
	p.conns = map[string]*conn{}
	p.mu.Unlock()
	var errs []error
	for _, c := range conns {
		if cl := c.live(); cl != nil {
			if err := cl.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func (p *Pool) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// conn is the pool's connection to one target.
type conn struct {
	pool     *Pool
	target   Target
	sessions chan struct{} // semaphore: MaxSessionsPerHost
	kills    chan struct{} // semaphore for out-of-band kill sessions, on top of sessions
	dialLock chan struct{} // held while dialling, so concurrent users dial once

	mu     sync.Mutex
	client *ssh.Client
	dead   chan struct{} // closed when client is gone
}

// live returns the current client if it is still connected.
func (c *conn) live() *ssh.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client == nil {
		return nil
	}
	select {
	case <-c.dead:
		return nil
	default:
		return c.client
	}
}

// deadCh returns the channel closed when cl is gone.
func (c *conn) deadCh(cl *ssh.Client) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client == cl {
		return c.dead
	}
	closed := make(chan struct{})
	close(closed)
	return closed
}

// get returns a live client, connecting when there is none.
func (c *conn) get(ctx context.Context) (*ssh.Client, error) {
	if c.pool.isClosed() {
		return nil, fmt.Errorf("connect %s: %w", c.target.name(), ErrPoolClosed)
	}
	if cl := c.live(); cl != nil {
		return cl, nil
	}
	select {
	case c.dialLock <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("connect %s: %w", c.target.name(), ctx.Err())
	}
	defer func() { <-c.dialLock }()
	if cl := c.live(); cl != nil {
		return cl, nil
	}
	name := c.target.name()
	log := c.pool.opts.Logger.With("host", name)
	start := time.Now()
	cl, err := c.pool.connect(ctx, c.target)
	if err != nil {
		log.Debug("ssh connect failed", "reason", Reason(err), "err", err)
		return nil, fmt.Errorf("connect %s: %w", name, err)
	}
	dead := make(chan struct{})
	c.mu.Lock()
	c.client, c.dead = cl, dead
	c.mu.Unlock()
	log.Debug("ssh connected", "took", time.Since(start))
	go func() {
		err := cl.Wait()
		close(dead)
		log.Debug("ssh connection closed", "err", err)
	}()
	go c.pool.keepalive(cl, dead, log)
	if c.pool.isClosed() {
		cl.Close()
		return nil, fmt.Errorf("connect %s: %w", name, ErrPoolClosed)
	}
	return cl, nil
}

// keepalive sends keepalive@openssh.com every interval and closes the
// client once KeepaliveCountMax periods passed without a reply: a dead
// host is noticed even when no command is running, and runs in flight
// fail instead of hanging until TCP gives up.
func (p *Pool) keepalive(cl *ssh.Client, dead <-chan struct{}, log interface {
	Warn(string, ...any)
}) {
	interval := p.opts.KeepaliveInterval
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var reply chan error // non-nil while a request is outstanding
	missed := 0
	for {
		select {
		case <-dead:
			return
		case err := <-reply:
			reply = nil
			if err != nil {
				return
			}
			missed = 0
		case <-t.C:
			if reply != nil {
				missed++
				if missed >= p.opts.KeepaliveCountMax {
					log.Warn("ssh keepalive: no reply, closing connection", "missed", missed, "interval", interval)
					cl.Close()
					return
				}
				continue
			}
			reply = make(chan error, 1)
			go func(ch chan<- error) {
				_, _, err := cl.SendRequest("keepalive@openssh.com", true, nil)
				ch <- err
			}(reply)
		}
	}
}
