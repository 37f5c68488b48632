package testhost

import (
	"fmt"
	"path/filepath"
	"regexp"
	"time"
)

// DefaultUser is the login user every test host accepts by key.
const DefaultUser = "cltest"

// MaxHosts is the largest fleet one bridge /24 can hold (.1 is the bridge).
const MaxHosts = 250

// DefaultBindMounts returns the paths that are private to every host by
// default: the deploy target, systemd units and the worker's state. The login
// user's home directory is always added on top of Options.BindMounts.
func DefaultBindMounts() []string {
	return []string{"/opt/celeroot", "/etc/systemd/system", "/var/lib/celeroot"}
}

// Options configure a fleet. The zero value is not useful; Start fills the
// defaults (see DefaultOptions) and then applies each Option.
type Options struct {
	// User is the login user (created once as a system user with shell
	// /bin/sh if missing). Default DefaultUser.
	User string
	// BindMounts are absolute paths that each host sees backed by its own
	// directory under the fleet directory (see Host.Path). The user's home
	// directory is always added. Default DefaultBindMounts().
	BindMounts []string
	// NamePrefix names the hosts NamePrefix1..NamePrefixN; the name is also
	// the host's hostname. Default "host".
	NamePrefix string
	// TempDir is the parent of the fleet directory. Default os.TempDir().
	TempDir string
	// ReadyTimeout bounds the wait for one sshd to accept TCP on port 22.
	// Default 20s.
	ReadyTimeout time.Duration
	// SSHDConfig lines are appended to every host's sshd_config.
	SSHDConfig []string
	// Parallel is how many hosts are provisioned at once. Default 8.
	Parallel int
	// Systemd makes every host run a real systemd as PID 1 of its own PID
	// namespace, with a private /run (see WithSystemd, SystemdSkipReason).
	Systemd bool
}

// Option changes Options.
type Option func(*Options)

// DefaultOptions returns the options Start uses before applying Option values.
func DefaultOptions() Options {
	return Options{
		User:         DefaultUser,
		BindMounts:   DefaultBindMounts(),
		NamePrefix:   "host",
		ReadyTimeout: 20 * time.Second,
		Parallel:     8,
	}
}

// WithOptions replaces all options at once (unset fields get defaults).
func WithOptions(o Options) Option {
	return func(dst *Options) { *dst = o }
}

// WithBindMounts adds paths that each host sees privately.
func WithBindMounts(paths ...string) Option {
	return func(o *Options) { o.BindMounts = append(o.BindMounts, paths...) }
}

// WithUser sets the login user.
func WithUser(name string) Option {
	return func(o *Options) { o.User = name }
}

// WithNamePrefix sets the host name prefix.
func WithNamePrefix(prefix string) Option {
	return func(o *Options) { o.NamePrefix = prefix }
}

// WithSSHDConfig appends lines to every host's sshd_config.
func WithSSHDConfig(lines ...string) Option {
	return func(o *Options) { o.SSHDConfig = append(o.SSHDConfig, lines...) }
}

func buildOptions(opts []Option) Options {
	o := DefaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	return o.withDefaults()
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.User == "" {
		o.User = d.User
	}
	if o.NamePrefix == "" {
		o.NamePrefix = d.NamePrefix
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = d.ReadyTimeout
	}
	if o.Parallel <= 0 {
		o.Parallel = d.Parallel
	}
	return o
}

var (
	userRe     = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,30}$`)
	hostnameRe = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]{0,40}$`)
)

func (o Options) validate(n int) error {
	if n < 1 || n > MaxHosts {
		return fmt.Errorf("testhost: %d hosts requested; use 1..%d", n, MaxHosts)
	}
	if !userRe.MatchString(o.User) {
		return fmt.Errorf("testhost: user %q is not a valid login name; use lower case letters, digits, _ and -", o.User)
	}
	if !hostnameRe.MatchString(o.NamePrefix) {
		return fmt.Errorf("testhost: name prefix %q is not a valid hostname prefix; use letters, digits and -", o.NamePrefix)
	}
	for _, p := range o.BindMounts {
		if !filepath.IsAbs(p) || filepath.Clean(p) == "/" {
			return fmt.Errorf("testhost: bind mount %q must be an absolute path below /", p)
		}
	}
	return nil
}

// checkBindTargets refuses targets that would hide the harness's own files
// (the fleet directory, the state directory) from sshd inside the host.
func checkBindTargets(targets []string, protected ...string) error {
	for _, t := range targets {
		for _, p := range protected {
			if isWithin(p, t) {
				return fmt.Errorf("testhost: bind mount %s would hide %s inside the hosts; choose a deeper path or set Options.TempDir", t, p)
			}
		}
	}
	return nil
}

// isWithin reports whether path p is dir or below it.
func isWithin(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	if err != nil {
		return false
	}
	return rel == "." || (rel != ".." && !startsWithDotDot(rel))
}

func startsWithDotDot(rel string) bool {
	return len(rel) >= 3 && rel[:3] == "../"
}
