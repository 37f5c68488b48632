package hostexec

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// connect opens an authenticated client to t: it dials the first hop over
// TCP, each further hop through the previous one's direct-tcpip channel,
// and verifies the host key at every hop against the same known_hosts.
// Closing the returned client closes the jump clients under it.
func (p *Pool) connect(ctx context.Context, t Target) (*ssh.Client, error) {
	select {
	case p.handshakes <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-p.handshakes }()

	if p.opts.Mux != nil {
		if cl, err, ok := p.viaMux(ctx, t); ok {
			return cl, err
		}
	}
	keys, closeAgent, err := p.auth.signers(t.KeyFiles)
	if err != nil {
		return nil, keysError{err}
	}
	defer closeAgent()

	chain := t.chain()
	var clients []*ssh.Client
	closeAll := func() {
		for i := len(clients) - 1; i >= 0; i-- {
			clients[i].Close()
		}
	}
	for i, e := range chain {
		var via *ssh.Client
		if i > 0 {
			via = clients[i-1]
		}
		cl, err := p.connectHop(ctx, via, e, keys)
		if err != nil {
			closeAll()
			if i < len(chain)-1 {
				err = fmt.Errorf("jump host %s@%s: %w", e.user, e.addr, err)
			}
			return nil, err
		}
		clients = append(clients, cl)
	}
	final := clients[len(clients)-1]
	if len(clients) > 1 {
		jumps := clients[:len(clients)-1]
		go func() {
			final.Wait()
			for i := len(jumps) - 1; i >= 0; i-- {
				jumps[i].Close()
			}
		}()
	}
	return final, nil
}

// connectHop dials e (directly, or through via) and runs the SSH
// handshake, all within ConnectTimeout. ClientConfig.Timeout only bounds
// the TCP dial, so the handshake gets a deadline of its own: a deadline on
// the TCP connection, and closing the connection when the time is up
// (which also covers channel connections through a jump host, whose
// SetDeadline is unsupported).
func (p *Pool) connectHop(ctx context.Context, via *ssh.Client, e endpoint, keys offer) (*ssh.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, p.opts.ConnectTimeout)
	defer cancel()
	var nc net.Conn
	var err error
	if via == nil {
		nc, err = (&net.Dialer{}).DialContext(ctx, "tcp", e.addr)
	} else {
		nc, err = via.DialContext(ctx, "tcp", e.addr)
	}
	if err != nil {
		return nil, classifyConnect(fmt.Errorf("dial %s: %w", e.addr, err), errors.Is(ctx.Err(), context.DeadlineExceeded))
	}
	deadline, _ := ctx.Deadline()
	_ = nc.SetDeadline(deadline)
	var fired atomic.Bool
	stop := context.AfterFunc(ctx, func() {
		fired.Store(true)
		nc.Close()
	})
	algos := p.hostKeys.algorithms(e.addr)
	cfg := &ssh.ClientConfig{
		User:              e.user,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(keys.signers...)},
		HostKeyCallback:   p.hostKeys.callback(),
		HostKeyAlgorithms: algos,
		Timeout:           p.opts.ConnectTimeout,
	}
	c, chans, reqs, err := ssh.NewClientConn(nc, e.addr, cfg)
	if !stop() && err == nil {
		c.Close()
		err = errors.New("handshake interrupted")
	}
	if err != nil {
		nc.Close()
		if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, ctx.Err() // the caller cancelled
		}
		var hk *HostKeyError
		switch msg := err.Error(); {
		case errors.As(err, &hk):
			return nil, hk
		case strings.Contains(msg, "unable to authenticate"):
			return nil, fmt.Errorf("%w: %s@%s accepted none of the keys offered (%s)", ErrAuthFailed, e.user, e.addr, keys.desc)
		case len(algos) > 0 && strings.Contains(msg, "no common algorithm for host key"):
			return nil, &HostKeyError{
				Host: knownhosts.Normalize(e.addr), Kind: HostKeyMismatch,
				Hint: fmt.Sprintf("the server offers none of the key types %s has for it (%s); if the host was reinstalled, verify its new key and replace the old entry (ssh-keygen -R '%s' -f %s)",
					p.hostKeys.file, strings.Join(algos, ", "), knownhosts.Normalize(e.addr), p.hostKeys.file),
			}
		}
		timedOut := fired.Load() && errors.Is(ctx.Err(), context.DeadlineExceeded)
		return nil, classifyConnect(fmt.Errorf("ssh handshake with %s@%s: %w", e.user, e.addr, err), timedOut)
	}
	_ = nc.SetDeadline(time.Time{})
	return ssh.NewClient(c, chans, reqs), nil
}
