package hostexec

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"

	"github.com/celeroot/celeroot/config"
)

// OptionsFor maps cl.yaml's ssh section onto pool options.
func OptionsFor(cfg *config.Config, log *slog.Logger) Options {
	policy := Strict
	if cfg.SSH.HostKeyPolicy == "accept-new" {
		policy = AcceptNew
	}
	return Options{
		KnownHostsFile: config.ExpandHome(cfg.SSH.KnownHosts),
		Policy:         policy,
		ConnectTimeout: cfg.SSH.Timeout.D(),
		Agent:          true,
		Logger:         log,
	}
}

// IsLocal reports whether h is reached without SSH: connection: local, or
// connection: auto (the default) with a loopback address.
func IsLocal(h *config.Host) bool {
	switch h.Connection {
	case "local":
		return true
	case "ssh":
		return false
	}
	if h.Address == "localhost" {
		return true
	}
	ip := net.ParseIP(h.Address)
	return ip != nil && ip.IsLoopback()
}

// TargetFor maps a host of cl.yaml onto an SSH target.
func TargetFor(cfg *config.Config, h *config.Host) (Target, error) {
	cn := cfg.ConnFor(h)
	t := Target{Name: h.Name, Address: cn.Address, Port: cn.Port, User: cn.User, Become: cfg.SSH.Become}
	if cn.Key != "" {
		t.KeyFiles = []string{config.ExpandHome(cn.Key)}
	}
	if cn.Jump != "" {
		for _, hop := range strings.Split(cn.Jump, ",") {
			hp, err := ParseHop(strings.TrimSpace(hop))
			if err != nil {
				return Target{}, fmt.Errorf("host %s: jump %q: %w", h.Name, cn.Jump, err)
			}
			t.Jump = append(t.Jump, hp)
		}
	}
	return t, nil
}

// Connector opens hosts of one configuration: local ones directly, the
// others through one shared SSH pool.
type Connector struct {
	cfg  *config.Config
	pool *Pool
}

// NewConnector returns a Connector for cfg; Close releases its connections.
func NewConnector(cfg *config.Config, opts Options) (*Connector, error) {
	pool, err := NewPool(opts)
	if err != nil {
		return nil, err
	}
	return &Connector{cfg: cfg, pool: pool}, nil
}

// Open returns a Host for h. Closing a pooled Host is harmless; the pool
// keeps the connection until the Connector is closed.
func (c *Connector) Open(ctx context.Context, h *config.Host) (Host, error) {
	if IsLocal(h) {
		return &Local{Name: h.Name, Become: c.cfg.SSH.Become}, nil
	}
	t, err := TargetFor(c.cfg, h)
	if err != nil {
		return nil, err
	}
	return c.pool.Get(ctx, t)
}

// Close closes every pooled connection.
func (c *Connector) Close() error { return c.pool.Close() }
