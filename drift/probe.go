package drift

import (
	"context"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/hostexec"
)

// HostKeyVerdict is what the host key check said.
type HostKeyVerdict string

// Host key verdicts.
const (
	HostKeyVerified HostKeyVerdict = "verified" // matched known_hosts (or recorded under accept-new)
	HostKeyLocal    HostKeyVerdict = "local"    // no SSH involved
	HostKeyUnknown  HostKeyVerdict = "unknown"
	HostKeyMismatch HostKeyVerdict = "mismatch"
	HostKeyNotSeen  HostKeyVerdict = "-" // the connection failed before the key was seen
)

// HostStatus is one host's observation.
type HostStatus struct {
	Name      string          `json:"name"`
	Address   string          `json:"address"`
	Reachable bool            `json:"reachable"`
	Reason    string          `json:"reason,omitempty"` // refused, timeout, auth failed, host key unknown, ...
	Error     string          `json:"error,omitempty"`
	Latency   time.Duration   `json:"latency_ns"` // connect + handshake + auth
	HostKey   HostKeyVerdict  `json:"host_key"`
	Facts     *hostexec.Facts `json:"facts,omitempty"`
}

// Opener opens a host; hostexec.Connector implements it.
type Opener interface {
	Open(ctx context.Context, h *config.Host) (hostexec.Host, error)
}

// ProbeOptions tunes Probe.
type ProbeOptions struct {
	DiskPath    string        // whose filesystem's free space to report
	Timeout     time.Duration // per host, for connect plus facts
	Concurrency int           // hosts probed at once (64 when zero)
	// Progress, when set, is called after each host (from any goroutine,
	// serialised).
	Progress func(done, total int, st HostStatus)
}

// Probe observes hosts' reachability and facts (Observe with Facts) and
// returns their statuses in the order given.
func Probe(ctx context.Context, op Opener, hosts []*config.Host, o ProbeOptions) []HostStatus {
	oo := ObserveOptions{TargetDir: o.DiskPath, Parallel: o.Concurrency, Facts: true, SkipRelease: true, Timeout: o.Timeout}
	if o.Progress != nil {
		oo.Progress = func(done, total int, ob Observation) { o.Progress(done, total, ob.Status()) }
	}
	obs := Observe(ctx, op, hosts, oo)
	out := make([]HostStatus, len(obs))
	for i, ob := range obs {
		out[i] = ob.Status()
	}
	return out
}
