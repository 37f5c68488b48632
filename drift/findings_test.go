package drift

import (
	"bytes"
	"strings"
	"testing"

	"github.com/celeroot/celeroot/queue"
)

var (
	shaA = strings.Repeat("a", 40)
	shaB = strings.Repeat("b", 40)
)

func yes() *bool { b := true; return &b }
func no() *bool  { b := false; return &b }

// healthy is a reachable host that runs sha as applied.
func healthy(sha string) Observation {
	return Observation{Reachable: true, Current: sha, Worker: sha, WorkerRole: "web", ServiceActive: yes(), ServiceEnabled: yes(), Verified: true}
}

// kinds renders a host's findings as "class kind" lines.
func kinds(h HostReport) string {
	var out []string
	for _, f := range h.Findings {
		out = append(out, string(f.Class)+" "+string(f.Kind))
	}
	return strings.Join(out, ", ")
}

func TestCompareHost(t *testing.T) {
	applied := Desired{Host: "h", Role: "web", Applied: shaA}
	cases := []struct {
		name       string
		d          Desired
		ob         Observation
		state      State
		findings   string
		repairable bool
	}{
		{"in sync", applied, healthy(shaA), StateInSync, "", false},
		{"current points elsewhere", applied, func() Observation { o := healthy(shaA); o.Current = shaB; return o }(),
			StateDrifted, "drift release", true},
		{"worker stopped", applied, func() Observation { o := healthy(shaA); o.ServiceActive, o.Worker = no(), WorkerNone; return o }(),
			StateDrifted, "drift worker-running", true},
		{"no heartbeat, no systemd", applied, func() Observation {
			o := healthy(shaA)
			o.ServiceActive, o.ServiceEnabled, o.Worker = nil, nil, WorkerNone
			return o
		}(), StateDrifted, "drift worker-running", true},
		{"unit disabled", applied, func() Observation { o := healthy(shaA); o.ServiceEnabled = no(); return o }(),
			StateDrifted, "drift worker-enabled", true},
		{"worker runs another release", applied, func() Observation { o := healthy(shaA); o.Worker = shaB; return o }(),
			StateDrifted, "drift worker-release", true},
		{"file changed and config changed", applied, func() Observation {
			o := healthy(shaA)
			o.Files = []FileChange{{"tasks/a.sh", FileChanged}, {".celeroot/worker.yaml", FileChanged}, {"x", FileAdded}}
			return o
		}(), StateDrifted, "drift worker-config, drift files", true},
		{"worker serves another role", applied, func() Observation { o := healthy(shaA); o.WorkerRole = "db"; return o }(),
			StateDrifted, "drift role", true},
		{"role change not applied yet: pending, not drift",
			Desired{Host: "h", Role: "db", Applied: shaA, AppliedRole: "web", Pending: "its configuration changed"}, healthy(shaA),
			StatePending, "pending role, pending change", false},
		{"intended change only", Desired{Host: "h", Role: "web", Applied: shaA, Pending: "tasks/a.sh changed"}, healthy(shaA),
			StatePending, "pending change", false},
		{"unreachable: unknown, not drift", applied, Observation{Reason: "timeout", Error: "dial: i/o timeout"},
			StateUnknown, "unknown unreachable", false},
		{"assess-only: reported, not repairable", Desired{Host: "h", Role: "web", Applied: shaA, AssessOnly: true},
			func() Observation { o := healthy(shaA); o.Current = shaB; return o }(), StateDrifted, "drift release", false},
		{"never applied: judged against what it runs", Desired{Host: "h", Role: "web", Pending: "new host"},
			func() Observation { o := healthy(shaA); o.Files = []FileChange{{"tasks/a.sh", FileMissing}}; return o }(),
			StateDrifted, "drift files, pending change", true},
		{"never applied, nothing on it", Desired{Host: "h", Role: "web", Pending: "new host"},
			Observation{Reachable: true, Worker: WorkerNone}, StatePending, "pending change", false},
		{"not verifiable", applied, func() Observation {
			o := healthy(shaA)
			o.Verified, o.VerifyError = false, "no sha256sum on the host"
			return o
		}(),
			StateUnknown, "unknown verify", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Compare(Input{Desired: shaA, Applied: shaA, Hosts: []Desired{tc.d}, Observed: map[string]Observation{"h": tc.ob}, Workers: []queue.Heartbeat{}})
			h := r.Hosts[0]
			if h.State != tc.state || kinds(h) != tc.findings || h.Repairable() != tc.repairable {
				t.Errorf("state %s findings %q repairable %v; want %s %q %v", h.State, kinds(h), h.Repairable(), tc.state, tc.findings, tc.repairable)
			}
			wantExit := ExitInSync
			if tc.state == StateDrifted {
				wantExit = ExitDrifted
			}
			if r.ExitCode() != wantExit {
				t.Errorf("exit %d, want %d", r.ExitCode(), wantExit)
			}
		})
	}
}

func TestCompareUnknownWorkers(t *testing.T) {
	in := Input{Desired: shaA, Applied: shaA, Hosts: []Desired{{Host: "h", Role: "web", Applied: shaA}},
		Observed: map[string]Observation{"h": healthy(shaA)},
		Workers:  []queue.Heartbeat{{Host: "h", Role: "web", SHA: shaA}, {Host: "stray", Role: "web", SHA: shaB, PID: 42}}}
	r := Compare(in)
	if len(r.UnknownWorkers) != 1 || r.UnknownWorkers[0].Got != "stray" || r.ExitCode() != ExitDrifted {
		t.Fatalf("unknown workers %+v exit %d", r.UnknownWorkers, r.ExitCode())
	}
	if r.Hosts[0].State != StateInSync || len(r.Repairs()) != 0 {
		t.Errorf("host %+v repairs %v", r.Hosts[0], r.Repairs())
	}
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"stray: drift unknown-worker: a worker heartbeats as host stray (role web, release bbbbbbb, pid 42)", "1 in sync, 0 drifted"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, b.String())
		}
	}
}
