package drift

import (
	"context"
	"errors"
	"sync"
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

// Probe observes hosts concurrently and returns their statuses in the
// order given.
func Probe(ctx context.Context, op Opener, hosts []*config.Host, o ProbeOptions) []HostStatus {
	if o.Concurrency <= 0 {
		o.Concurrency = 64
	}
	out := make([]HostStatus, len(hosts))
	sem := make(chan struct{}, o.Concurrency)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			out[i] = probeOne(ctx, op, h, o)
			if o.Progress != nil {
				mu.Lock()
				done++
				o.Progress(done, len(hosts), out[i])
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out
}

func probeOne(ctx context.Context, op Opener, h *config.Host, o ProbeOptions) HostStatus {
	st := HostStatus{Name: h.Name, Address: h.Address, HostKey: HostKeyNotSeen}
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	start := time.Now()
	host, err := op.Open(ctx, h)
	st.Latency = time.Since(start)
	if err != nil {
		st.Reason, st.Error = hostexec.Reason(err), err.Error()
		switch {
		case errors.Is(err, hostexec.ErrHostKeyUnknown):
			st.HostKey = HostKeyUnknown
		case errors.Is(err, hostexec.ErrHostKeyMismatch):
			st.HostKey = HostKeyMismatch
		}
		return st
	}
	defer host.Close()
	st.HostKey = HostKeyVerified
	if hostexec.IsLocal(h) {
		st.HostKey = HostKeyLocal
	}
	facts, err := hostexec.GatherFacts(ctx, host, o.DiskPath)
	if err != nil {
		st.Reason, st.Error = hostexec.Reason(err), err.Error()
		return st
	}
	st.Reachable, st.Facts = true, &facts
	return st
}
