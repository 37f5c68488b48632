package drift

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/celeroot/celeroot/hostexec"
	"github.com/celeroot/celeroot/queue"
)

// Class says whether a finding is drift or an intended change.
type Class string

// Classes of findings.
const (
	// ClassDrift: the host was changed outside celeroot; it differs from
	// what was applied to it.
	ClassDrift Class = "drift"
	// ClassPending: an intended change (a commit after the applied one)
	// is not applied yet; `cl plan`/`cl apply` or the agent carry it out.
	ClassPending Class = "pending"
	// ClassUnknown: the host could not be observed; neither in sync nor
	// drifted.
	ClassUnknown Class = "unknown"
)

// Kind is what a finding is about.
type Kind string

// Kinds of findings.
const (
	KindUnreachable   Kind = "unreachable"    // the host could not be observed
	KindRelease       Kind = "release"        // `current` points to another release than was applied
	KindWorkerRunning Kind = "worker-running" // the worker is not running (unit inactive, or no live heartbeat)
	KindWorkerEnabled Kind = "worker-enabled" // the worker's unit is not enabled
	KindWorkerRelease Kind = "worker-release" // the worker heartbeats another release than was applied
	KindWorkerConfig  Kind = "worker-config"  // the worker's configuration files differ from the release's manifest
	KindRole          Kind = "role"           // the worker serves another role (and so queue)
	KindFiles         Kind = "files"          // files of the live release changed on the host
	KindVerify        Kind = "verify"         // the live release could not be checked against its manifest
	KindChange        Kind = "change"         // an intended change not applied yet
	KindUnknownWorker Kind = "unknown-worker" // a worker heartbeats for a host that is not in cl.yaml
)

// Finding is one difference between a host and its desired state.
type Finding struct {
	Kind   Kind   `json:"kind"`
	Class  Class  `json:"class"`
	Detail string `json:"detail"`
	Want   string `json:"want,omitempty"`
	Got    string `json:"got,omitempty"`
}

// State is a host's overall state, worst finding first.
type State string

// Host states.
const (
	StateInSync  State = "in-sync"
	StateDrifted State = "drifted"
	StatePending State = "pending"
	StateUnknown State = "unknown"
)

// Desired is what one host of cl.yaml should run, and what was applied to
// it.
type Desired struct {
	Host       string
	Role       string // the role at the desired revision
	AssessOnly bool
	// Applied is the SHA last applied to the host ("" never; then what
	// it runs is the baseline), AppliedRole its role there ("" unknown).
	Applied     string
	AppliedRole string
	// Pending describes the intended change not applied yet ("" none).
	Pending string
}

// Input is what Compare compares: the desired hosts in order, what was
// observed on each (Observe with Verify), and the live workers.
type Input struct {
	Desired  string // the desired SHA (HEAD of the checkout)
	Applied  string // the cluster's applied SHA
	Hosts    []Desired
	Observed map[string]Observation
	Workers  []queue.Heartbeat // nil: the heartbeats were not read
	Now      time.Time
}

// HostReport is one host's findings.
type HostReport struct {
	Host       string    `json:"host"`
	Address    string    `json:"address"`
	Role       string    `json:"role"`
	State      State     `json:"state"`
	AssessOnly bool      `json:"assess_only,omitempty"`
	Applied    string    `json:"applied_sha,omitempty"`
	Current    string    `json:"current,omitempty"`
	Findings   []Finding `json:"findings"`
	// Releases (kept on the host, newest first) and Facts are as observed
	// (nil when not reached, or facts not asked for).
	Releases []string        `json:"releases,omitempty"`
	Facts    *hostexec.Facts `json:"facts,omitempty"`
}

// Repairable reports whether reconcile would repair the host: it drifted,
// can be reached, is not assess-only and has a release to go back to.
func (h HostReport) Repairable() bool {
	return h.State == StateDrifted && !h.AssessOnly && h.Baseline() != ""
}

// Baseline is the release the host is repaired to: the one applied to it,
// else the one it runs.
func (h HostReport) Baseline() string {
	if h.Applied != "" {
		return h.Applied
	}
	if strings.Contains(h.Current, "-dirty-") {
		return "" // no commit to rebuild it from
	}
	return h.Current
}

// Report is the drift of a cluster: every host of cl.yaml, and workers
// that heartbeat for hosts that are not in it.
type Report struct {
	Desired        string       `json:"desired_sha"`
	Applied        string       `json:"applied_sha"`
	Checked        time.Time    `json:"checked"`
	Hosts          []HostReport `json:"hosts"`
	UnknownWorkers []Finding    `json:"unknown_workers"`
}

// Drifted reports whether any host drifted or an unknown worker runs.
func (r *Report) Drifted() bool {
	return len(r.UnknownWorkers) > 0 || r.Count(StateDrifted) > 0
}

// Count counts the hosts in state s.
func (r *Report) Count(s State) int {
	n := 0
	for _, h := range r.Hosts {
		if h.State == s {
			n++
		}
	}
	return n
}

// Repairs lists the hosts reconcile repairs, in order.
func (r *Report) Repairs() []HostReport {
	var out []HostReport
	for _, h := range r.Hosts {
		if h.Repairable() {
			out = append(out, h)
		}
	}
	return out
}

// Exit codes of `cl cluster drift`.
const (
	ExitInSync  = 0
	ExitDrifted = 2
)

// ExitCode is 2 when anything drifted, else 0 (pending changes and
// unreachable hosts are reported but are not drift).
func (r *Report) ExitCode() int {
	if r.Drifted() {
		return ExitDrifted
	}
	return ExitInSync
}

// configFile reports whether a release path is configuration the worker
// reads: cl.yaml, its overlays, and the worker's own settings.
func configFile(p string) bool {
	return p == "cl.yaml" || strings.HasPrefix(p, "environments/") || p == ".celeroot/worker.yaml"
}

// Compare compares each host's observation with what was applied to it and
// what is desired. It is a pure function of its input.
func Compare(in Input) *Report {
	r := &Report{Desired: in.Desired, Applied: in.Applied, Checked: in.Now, Hosts: []HostReport{}, UnknownWorkers: []Finding{}}
	known := map[string]bool{}
	for _, d := range in.Hosts {
		known[d.Host] = true
		r.Hosts = append(r.Hosts, compareHost(d, in.Observed[d.Host], in.Workers != nil))
	}
	for _, hb := range in.Workers {
		if !known[hb.Host] {
			r.UnknownWorkers = append(r.UnknownWorkers, Finding{Kind: KindUnknownWorker, Class: ClassDrift, Got: hb.Host,
				Detail: fmt.Sprintf("a worker heartbeats as host %s (role %s, release %s, pid %d), which is not in cl.yaml: stop it, or add the host",
					hb.Host, orDash(hb.Role), short(hb.SHA), hb.PID)})
		}
	}
	sort.Slice(r.UnknownWorkers, func(i, j int) bool { return r.UnknownWorkers[i].Got < r.UnknownWorkers[j].Got })
	return r
}

func compareHost(d Desired, ob Observation, beats bool) HostReport {
	h := HostReport{Host: d.Host, Address: ob.Address, Role: d.Role, AssessOnly: d.AssessOnly, Applied: d.Applied,
		Current: ob.Current, Findings: []Finding{}, Releases: ob.Releases, Facts: ob.Facts}
	add := func(k Kind, c Class, want, got, detail string) {
		h.Findings = append(h.Findings, Finding{Kind: k, Class: c, Want: want, Got: got, Detail: detail})
	}
	if !ob.Reachable {
		why := ob.Reason
		if why == "" {
			why = firstLine(ob.Error)
		}
		add(KindUnreachable, ClassUnknown, "", "", "not observed: "+orDash(why))
	} else {
		base := d.Applied
		if base == "" {
			base = ob.Current // never applied: judged against what it runs
		}
		switch {
		case base == "":
			// Nothing applied, nothing running: only the pending deploy.
		case ob.Current != base:
			add(KindRelease, ClassDrift, base, ob.Current, "current points to "+orNothing(ob.Current)+", applied "+short(base))
		}
		if base != "" {
			compareWorker(d, ob, base, beats, add)
		}
		if base != "" && ob.Current == base {
			compareFiles(ob, add) // the files of another release say nothing more
		}
	}
	if d.Pending != "" {
		add(KindChange, ClassPending, "", "", d.Pending)
	}
	h.State = StateInSync
	for _, f := range h.Findings {
		h.State = worse(h.State, f.Class)
	}
	return h
}

func compareWorker(d Desired, ob Observation, base string, beats bool, add func(Kind, Class, string, string, string)) {
	switch {
	case ob.ServiceActive != nil && !*ob.ServiceActive:
		add(KindWorkerRunning, ClassDrift, "running", "stopped", "the worker is not running (its systemd unit or supervisor is not active)")
	case beats && ob.Worker == WorkerNone:
		add(KindWorkerRunning, ClassDrift, "running", "no heartbeat", "no live worker heartbeat")
	}
	if ob.ServiceEnabled != nil && !*ob.ServiceEnabled {
		add(KindWorkerEnabled, ClassDrift, "enabled", "disabled", "the worker's unit is not enabled (it will not start at boot)")
	}
	if ob.Worker == WorkerNone || ob.Worker == WorkerNoSource {
		return
	}
	if ob.Worker != base {
		add(KindWorkerRelease, ClassDrift, base, ob.Worker, "the worker runs "+short(ob.Worker)+", applied "+short(base))
	}
	appliedRole := d.AppliedRole
	if appliedRole == "" {
		appliedRole = d.Role
	}
	switch {
	case ob.WorkerRole == "":
	case ob.WorkerRole != appliedRole:
		add(KindRole, ClassDrift, appliedRole, ob.WorkerRole, "the worker serves role "+ob.WorkerRole+" (and its queue), applied "+appliedRole)
	case ob.WorkerRole != d.Role:
		add(KindRole, ClassPending, d.Role, ob.WorkerRole, "role "+ob.WorkerRole+" → "+d.Role+" is not applied yet")
	}
}

func compareFiles(ob Observation, add func(Kind, Class, string, string, string)) {
	if ob.VerifyError != "" {
		add(KindVerify, ClassUnknown, "", "", "the live release was not checked: "+ob.VerifyError)
	}
	var cfg, other []string
	for _, f := range ob.Files {
		s := f.Path + " (" + string(f.Change) + ")"
		if configFile(f.Path) {
			cfg = append(cfg, s)
		} else {
			other = append(other, s)
		}
	}
	if len(cfg) > 0 {
		add(KindWorkerConfig, ClassDrift, "", "", "the worker's configuration differs from the release: "+strings.Join(cfg, ", "))
	}
	if len(other) > 0 {
		add(KindFiles, ClassDrift, "", "", describe(other)+" from its manifest: "+strings.Join(capList(other, 5), ", "))
	}
}

// worse is the state after a finding of class c.
func worse(s State, c Class) State {
	rank := map[State]int{StateInSync: 0, StatePending: 1, StateUnknown: 2, StateDrifted: 3}
	next := map[Class]State{ClassDrift: StateDrifted, ClassPending: StatePending, ClassUnknown: StateUnknown}[c]
	if rank[next] > rank[s] {
		return next
	}
	return s
}

func describe(paths []string) string {
	if len(paths) == 1 {
		return "1 file of the live release differs"
	}
	return fmt.Sprintf("%d files of the live release differ", len(paths))
}

func capList(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(append([]string(nil), s[:n]...), fmt.Sprintf("and %d more", len(s)-n))
}

func short(v string) string {
	if len(v) > 7 && !strings.Contains(v, "-dirty-") {
		return v[:7]
	}
	return orDash(v)
}

func orNothing(v string) string {
	if v == "" {
		return "nothing"
	}
	return short(v)
}

func orDash(v string) string {
	if v == "" {
		return "-"
	}
	return v
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
