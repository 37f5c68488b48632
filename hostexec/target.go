package hostexec

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"
)

// Target is a host reached over SSH.
type Target struct {
	Name     string   // the host's name in cl.yaml, used in errors and logs; Address when empty
	Address  string   // host name or IP
	Port     int      // 22 when zero
	User     string   // the current user when empty
	KeyFiles []string // private key files, tried in order; a leading ~ is expanded
	Jump     []Hop    // jump hosts, dialled in order before Address
	Become   string   // "" or "sudo": run commands as `sudo -n -- …`
}

// Hop is one jump host, written user@host:port.
type Hop struct {
	User    string // the target's User when empty
	Address string
	Port    int // 22 when zero
}

// ParseHop parses "[user@]host[:port]"; IPv6 addresses go in brackets
// ("root@[2001:db8::1]:2222").
func ParseHop(s string) (Hop, error) {
	var h Hop
	rest := s
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		h.User, rest = rest[:i], rest[i+1:]
	}
	host, port, err := net.SplitHostPort(rest)
	switch {
	case err == nil:
		p, perr := strconv.Atoi(port)
		if perr != nil || p < 1 || p > 65535 {
			return Hop{}, fmt.Errorf("jump host %q: bad port %q", s, port)
		}
		h.Address, h.Port = host, p
	case strings.Contains(rest, ":") && !strings.HasPrefix(rest, "["):
		h.Address = rest // a bare IPv6 address
	default:
		h.Address = strings.TrimSuffix(strings.TrimPrefix(rest, "["), "]")
	}
	if h.Address == "" {
		return Hop{}, fmt.Errorf("jump host %q: no host (want user@host:port)", s)
	}
	return h, nil
}

// String renders the hop as user@host:port.
func (h Hop) String() string {
	s := net.JoinHostPort(h.Address, strconv.Itoa(portOr22(h.Port)))
	if h.User != "" {
		s = h.User + "@" + s
	}
	return s
}

// endpoint is one SSH server on the way to a target, with defaults applied.
type endpoint struct {
	user string
	addr string // host:port
}

func (t Target) name() string {
	if t.Name != "" {
		return t.Name
	}
	return t.Address
}

func (t Target) validate() error {
	if t.Address == "" {
		return fmt.Errorf("host %s: no address", t.name())
	}
	if t.Port < 0 || t.Port > 65535 {
		return fmt.Errorf("host %s: bad port %d", t.name(), t.Port)
	}
	for _, h := range t.Jump {
		if h.Address == "" || h.Port < 0 || h.Port > 65535 {
			return fmt.Errorf("host %s: bad jump host %q", t.name(), h)
		}
	}
	return checkBecome(t.Become)
}

// chain lists the SSH servers to authenticate to, jump hosts first.
func (t Target) chain() []endpoint {
	u := t.User
	if u == "" {
		u = currentUser()
	}
	var out []endpoint
	for _, h := range t.Jump {
		hu := h.User
		if hu == "" {
			hu = u
		}
		out = append(out, endpoint{hu, net.JoinHostPort(h.Address, strconv.Itoa(portOr22(h.Port)))})
	}
	return append(out, endpoint{u, net.JoinHostPort(t.Address, strconv.Itoa(portOr22(t.Port)))})
}

// connKey identifies the connection a target needs; targets that differ
// only in Name or Become share it.
func (t Target) connKey() string {
	var b strings.Builder
	for _, e := range t.chain() {
		b.WriteString(e.user + "@" + e.addr + ">")
	}
	b.WriteString(strings.Join(t.KeyFiles, "\x00"))
	return b.String()
}

func portOr22(p int) int {
	if p == 0 {
		return 22
	}
	return p
}

func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return os.Getenv("USER")
}

// Options configure a Pool. The zero value is usable: strict host key
// checking against ~/.ssh/known_hosts, key files only.
type Options struct {
	KnownHostsFile string        // ~/.ssh/known_hosts when empty
	Policy         HostKeyPolicy // Strict when empty
	// ConnectTimeout bounds the TCP dial and the SSH handshake of each hop
	// (10s when zero).
	ConnectTimeout time.Duration
	// KeepaliveInterval is the period of keepalive@openssh.com requests
	// (15s when zero, off when negative). After KeepaliveCountMax (3 when
	// zero) unanswered periods the connection is closed: runs on it fail
	// with ErrConnLost and the next use reconnects.
	KeepaliveInterval  time.Duration
	KeepaliveCountMax  int
	MaxSessionsPerHost int // concurrent sessions per connection (8 when zero; sshd's MaxSessions defaults to 10)
	MaxHandshakes      int // concurrent connection attempts per pool (32 when zero)
	// KillGrace is the time a cancelled remote command gets between TERM
	// and KILL (DefaultKillGrace when zero).
	KillGrace time.Duration
	// Agent offers the keys of the ssh-agent at AgentSocket
	// ($SSH_AUTH_SOCK when empty), when set.
	Agent       bool
	AgentSocket string
	// PassphrasePrompt asks for a key's passphrase; nil when not on a
	// terminal, in which case a protected key must be in the agent.
	PassphrasePrompt func(keyFile string) ([]byte, error)
	Logger           *slog.Logger
	// Mux, when set, gets connections from a connection mux shared with
	// other processes of this user (see mux.go); nil dials directly.
	Mux *Mux
}

func (o Options) withDefaults() (Options, error) {
	if o.KnownHostsFile == "" {
		o.KnownHostsFile = "~/.ssh/known_hosts"
	}
	f, err := expandHome(o.KnownHostsFile)
	if err != nil {
		return o, fmt.Errorf("known_hosts file %s: %w", o.KnownHostsFile, err)
	}
	o.KnownHostsFile = f
	switch o.Policy {
	case "":
		o.Policy = Strict
	case Strict, AcceptNew:
	default:
		return o, fmt.Errorf("unknown host key policy %q (want %q or %q)", o.Policy, Strict, AcceptNew)
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.KeepaliveInterval == 0 {
		o.KeepaliveInterval = 15 * time.Second
	}
	if o.KeepaliveCountMax <= 0 {
		o.KeepaliveCountMax = 3
	}
	if o.MaxSessionsPerHost <= 0 {
		o.MaxSessionsPerHost = 8
	}
	if o.MaxHandshakes <= 0 {
		o.MaxHandshakes = 32
	}
	if o.KillGrace <= 0 {
		o.KillGrace = DefaultKillGrace
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}
