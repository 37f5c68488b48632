package drift

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/hostexec"
	"github.com/celeroot/celeroot/queue"
)

// Heartbeats reads worker heartbeats; queue.Queue implements it.
type Heartbeats interface {
	Worker(ctx context.Context, host string) (hb queue.Heartbeat, ok bool, err error)
}

// OpenerFunc adapts a function to Opener (discover dials addresses that
// are not in cl.yaml yet).
type OpenerFunc func(ctx context.Context, h *config.Host) (hostexec.Host, error)

// Open calls f.
func (f OpenerFunc) Open(ctx context.Context, h *config.Host) (hostexec.Host, error) {
	return f(ctx, h)
}

// Worker values of an Observation besides a SHA.
const (
	WorkerNone     = ""  // no live heartbeat
	WorkerNoSource = "?" // no heartbeat source was given (or it failed)
)

// ObserveOptions tunes Observe.
type ObserveOptions struct {
	// TargetDir is deployment.target_directory: whose `current` is read,
	// and whose file system's free space the facts report.
	TargetDir string
	// Heartbeats, when set, gives Worker; nil leaves it WorkerNoSource.
	Heartbeats Heartbeats
	// Parallel is how many hosts are observed at once (64 when zero).
	Parallel int
	// Facts adds the host's facts (OS, kernel, arch, CPUs, memory, disk,
	// clock skew) to the same command.
	Facts bool
	// Service is deployment.service_name: when set, its systemd state is
	// read too (hosts without systemd leave it unknown).
	Service string
	// Timeout bounds each host: connect plus the command (none when zero).
	Timeout time.Duration
	// Progress, when set, is called after each host (from any goroutine,
	// serialised).
	Progress func(done, total int, o Observation)
}

// Observation is what one look at a host found.
type Observation struct {
	Host      string `json:"host"`
	Address   string `json:"address"`
	Reachable bool   `json:"reachable"`
	// Reason is short (refused, timeout, auth failed, host key unknown,
	// output too large, ...); Error the whole message.
	Reason  string         `json:"reason,omitempty"`
	Error   string         `json:"error,omitempty"`
	Latency time.Duration  `json:"latency_ns"` // connect + handshake + auth
	HostKey HostKeyVerdict `json:"host_key"`
	// Current is the release `current` points to ("" none).
	Current string `json:"current"`
	// Worker is the release the worker's heartbeat reports: a SHA,
	// WorkerNone or WorkerNoSource.
	Worker string `json:"worker"`
	// ServiceActive and ServiceEnabled are the systemd unit's state, nil
	// when not known (no Service asked, no systemd, host down).
	ServiceActive  *bool           `json:"service_active,omitempty"`
	ServiceEnabled *bool           `json:"service_enabled,omitempty"`
	Facts          *hostexec.Facts `json:"facts,omitempty"`
}

// Connected reports whether the host was reached and logged into, even if
// the command then failed.
func (o Observation) Connected() bool {
	return o.HostKey == HostKeyVerified || o.HostKey == HostKeyLocal
}

// Status is the observation as `cl host status` prints it.
func (o Observation) Status() HostStatus {
	return HostStatus{Name: o.Host, Address: o.Address, Reachable: o.Reachable, Reason: o.Reason, Error: o.Error,
		Latency: o.Latency, HostKey: o.HostKey, Facts: o.Facts}
}

// MaxObserveOutput caps what one observation reads back from a host.
const MaxObserveOutput = hostexec.MaxFactsOutput + 64<<10

// observeScript prints the release `current` points to and, when $2
// names a service on a systemd host, its state. $1 is the target
// directory. FactsScript follows it when facts are asked (its $1, the disk
// path, is the same target directory).
const observeScript = `echo '@@current'; readlink "$1/current" 2>/dev/null || :
if [ -n "$2" ] && [ -d /run/systemd/system ]; then
echo '@@service'; systemctl is-active --quiet -- "$2" && echo active=1
systemctl is-enabled --quiet -- "$2" 2>/dev/null && echo enabled=1
fi
echo '@@observed'
`

// Observe looks at each host with one command: reachability, the release
// `current` points to, the service state, the facts when asked, and the
// worker's heartbeat from o.Heartbeats. Results come in the order given.
func Observe(ctx context.Context, op Opener, hosts []*config.Host, o ObserveOptions) []Observation {
	if o.Parallel <= 0 {
		o.Parallel = 64
	}
	out := make([]Observation, len(hosts))
	sem := make(chan struct{}, o.Parallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for i, h := range hosts {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			out[i] = observeOne(ctx, op, h, o)
			if o.Progress != nil {
				mu.Lock()
				done++
				o.Progress(done, len(hosts), out[i])
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return out
}

func observeOne(ctx context.Context, op Opener, h *config.Host, o ObserveOptions) Observation {
	ob := Observation{Host: h.Name, Address: h.Address, HostKey: HostKeyNotSeen, Worker: WorkerNoSource}
	if o.Heartbeats != nil {
		ob.Worker = WorkerNone
		if hb, ok, err := o.Heartbeats.Worker(ctx, h.Name); err == nil && ok {
			ob.Worker = hb.SHA
		}
	}
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	fail := func(err error) Observation {
		ob.Reason, ob.Error = reason(err), err.Error()
		return ob
	}
	start := time.Now()
	host, err := op.Open(ctx, h)
	ob.Latency = time.Since(start)
	if err != nil {
		switch {
		case errors.Is(err, hostexec.ErrHostKeyUnknown):
			ob.HostKey = HostKeyUnknown
		case errors.Is(err, hostexec.ErrHostKeyMismatch):
			ob.HostKey = HostKeyMismatch
		}
		return fail(err)
	}
	defer host.Close()
	ob.HostKey = HostKeyVerified
	if hostexec.IsLocal(h) {
		ob.HostKey = HostKeyLocal
	}
	script := observeScript
	if o.Facts {
		script += hostexec.FactsScript
	}
	var stdout bytes.Buffer
	var stderr tail
	start = time.Now()
	res, err := host.Run(ctx, hostexec.Command{Argv: []string{"/bin/sh", "-c", script, "sh", o.TargetDir, o.Service},
		Stdout: &stdout, Stderr: &stderr, MaxStdout: MaxObserveOutput})
	end := time.Now()
	if err != nil {
		return fail(fmt.Errorf("observe %s: %w", h.Name, err))
	}
	out := stdout.String()
	sec := sections(out)
	if _, ok := sec["observed"]; !ok || !res.OK() {
		return fail(fmt.Errorf("observe %s: exit status %d, output %.100q, stderr %q: is /bin/sh a POSIX shell there?", h.Name, res.ExitCode, out, strings.TrimSpace(stderr.String())))
	}
	ob.Current = strings.TrimPrefix(first(sec["current"]), "releases/")
	if svc, ok := sec["service"]; ok {
		active, enabled := false, false
		for _, l := range svc {
			active = active || l == "active=1"
			enabled = enabled || l == "enabled=1"
		}
		ob.ServiceActive, ob.ServiceEnabled = &active, &enabled
	}
	if o.Facts {
		f, err := hostexec.ParseFacts(out, start, end)
		if err != nil {
			return fail(fmt.Errorf("observe %s: %w", h.Name, err))
		}
		ob.Facts = &f
	}
	ob.Reachable = true
	return ob
}

// reason is hostexec.Reason, with a cap hit named.
func reason(err error) string {
	if errors.Is(err, hostexec.ErrOutputTooLarge) {
		return "output too large"
	}
	return hostexec.Reason(err)
}

// sections splits "@@name" blocks into their lines.
func sections(out string) map[string][]string {
	m := map[string][]string{}
	cur := ""
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimRight(l, "\r")
		if name, ok := strings.CutPrefix(l, "@@"); ok && name != "" && !strings.ContainsAny(name, " \t") {
			cur = name
			m[cur] = []string{}
			continue
		}
		if cur != "" {
			m[cur] = append(m[cur], l)
		}
	}
	return m
}

func first(lines []string) string {
	for _, l := range lines {
		if s := strings.TrimSpace(l); s != "" {
			return s
		}
	}
	return ""
}

// tail keeps the last 2 KiB written to it, for error messages.
type tail struct{ b []byte }

func (t *tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if over := len(t.b) - 2048; over > 0 {
		t.b = t.b[over:]
	}
	return len(p), nil
}

func (t *tail) String() string { return string(t.b) }
