package hostexec

import (
	"context"
	"errors"
	"fmt"
	"net"

	"golang.org/x/crypto/ssh"
)

// Dialer is implemented by hosts that can open a TCP connection from the
// host's side: over SSH a direct-tcpip channel (sshd connects, resolving
// the address on the host), on a local host a plain dial. It lets a
// caller talk to a service on the host's loopback, such as the worker's
// health URL, without running a process there.
type Dialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// ErrForwardingRefused is matched by a DialContext error when the host's
// sshd does not allow TCP forwarding (AllowTcpForwarding no); callers fall
// back to running a command on the host.
var ErrForwardingRefused = errors.New("TCP forwarding refused by the host's sshd")

var (
	_ Dialer = (*sshHost)(nil)
	_ Dialer = (*Local)(nil)
)

// DialContext opens a direct-tcpip channel to addr on the pooled
// connection, reconnecting once when that connection turns out dead.
func (h *sshHost) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	for attempt := 0; ; attempt++ {
		client, err := h.c.get(ctx)
		if err != nil {
			return nil, fmt.Errorf("dial %s from %s: %w", addr, h.t.name(), err)
		}
		conn, err := client.DialContext(ctx, network, addr)
		if err == nil {
			return conn, nil
		}
		var oc *ssh.OpenChannelError
		if errors.As(err, &oc) {
			if oc.Reason == ssh.Prohibited {
				return nil, fmt.Errorf("dial %s from %s: %w: %w", addr, h.t.name(), ErrForwardingRefused, err)
			}
			return nil, fmt.Errorf("dial %s from %s: %w", addr, h.t.name(), err)
		}
		err = h.transportError("open a direct-tcpip channel", client, err)
		if attempt > 0 || !errors.Is(err, ErrConnLost) || ctx.Err() != nil {
			return nil, fmt.Errorf("dial %s from %s: %w", addr, h.t.name(), err)
		}
	}
}

// DialContext dials addr from this machine.
func (l *Local) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}
