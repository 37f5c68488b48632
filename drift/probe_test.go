package drift

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/hostexec"
)

type openerFunc func(ctx context.Context, h *config.Host) (hostexec.Host, error)

func (f openerFunc) Open(ctx context.Context, h *config.Host) (hostexec.Host, error) {
	return f(ctx, h)
}

func TestProbeReportsReasonsAndFacts(t *testing.T) {
	hosts := []*config.Host{{Name: "up", Address: "127.0.0.1"}, {Name: "refused", Address: "10.0.0.2"},
		{Name: "unknownkey", Address: "10.0.0.3"}, {Name: "slow", Address: "10.0.0.4"}}
	op := openerFunc(func(ctx context.Context, h *config.Host) (hostexec.Host, error) {
		switch h.Name {
		case "up":
			return &hostexec.Local{Name: h.Name}, nil
		case "refused":
			return nil, fmt.Errorf("connect: %w", hostexec.ErrRefused)
		case "unknownkey":
			return nil, &hostexec.HostKeyError{Host: h.Name, Kind: hostexec.HostKeyUnknown, KeyType: "ssh-ed25519", Fingerprint: "SHA256:x"}
		}
		<-ctx.Done()
		return nil, ctx.Err()
	})
	var calls int
	got := Probe(context.Background(), op, hosts, ProbeOptions{DiskPath: "/", Timeout: 300 * time.Millisecond, Concurrency: 2,
		Progress: func(done, total int, _ HostStatus) { calls++ }})
	if calls != 4 {
		t.Errorf("progress called %d times", calls)
	}
	want := []struct {
		name      string
		reachable bool
		reason    string
		key       HostKeyVerdict
	}{
		{"up", true, "", HostKeyLocal},
		{"refused", false, "refused", HostKeyNotSeen},
		{"unknownkey", false, "host key unknown", HostKeyUnknown},
		{"slow", false, "timeout", HostKeyNotSeen},
	}
	for i, w := range want {
		g := got[i]
		if g.Name != w.name || g.Reachable != w.reachable || g.Reason != w.reason || g.HostKey != w.key {
			t.Errorf("%s: got %+v", w.name, g)
		}
	}
	if f := got[0].Facts; f == nil || f.Kernel == "" || f.CPUs < 1 {
		t.Errorf("facts of the local host: %+v", f)
	}
}
