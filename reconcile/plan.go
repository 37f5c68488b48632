package reconcile

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/celeroot/celeroot/schedule"
)

// FormatVersion is the version of the plan's JSON form.
const FormatVersion = 1

// Kind is what an action does.
type Kind string

// Kinds of actions.
const (
	KindDeploy          Kind = "deploy"           // put the revision on a host
	KindRemove          Kind = "remove"           // stop and disable the worker of a host no longer in cl.yaml
	KindReloadScheduler Kind = "reload-scheduler" // publish the revision's schedule set to the beats
)

// Reason says why an action is planned.
type Reason string

// Reasons.
const (
	ReasonNewHost   Reason = "new-host"  // the host has never been applied
	ReasonChanged   Reason = "changed"   // what the host receives changed
	ReasonRetry     Reason = "retry"     // the host's last apply failed
	ReasonDrift     Reason = "drift"     // the host runs something else than was applied (changed outside celeroot)
	ReasonPrune     Reason = "prune"     // the host left cl.yaml and pruning is on
	ReasonSchedules Reason = "schedules" // the schedule set changed
)

// Corrective reports whether the reason repairs drift rather than carrying
// out an intended change.
func (r Reason) Corrective() bool { return r == ReasonDrift }

// Action is one step of a plan.
type Action struct {
	Kind   Kind   `json:"kind"`
	Host   string `json:"host,omitempty"`
	From   string `json:"from,omitempty"` // what the host runs (or was applied) now, "" when nothing
	To     string `json:"to,omitempty"`
	Reason Reason `json:"reason"`
	Detail string `json:"detail"`
	// Fleet is the blue-green fleet of the host the action touches (empty
	// without fleets, and for the scheduler reload).
	Fleet string `json:"fleet,omitempty"`
}

// Corrective reports whether the action repairs drift.
func (a Action) Corrective() bool { return a.Reason.Corrective() }

// String is the action as one line: "deploy web1 a1b2c3d → c3d4e5f (3
// files changed under tasks/nginx_management)".
func (a Action) String() string {
	if a.Fleet != "" {
		b := a
		b.Fleet = ""
		return b.String() + " [fleet " + a.Fleet + "]"
	}
	switch a.Kind {
	case KindDeploy:
		if a.From == "" {
			return fmt.Sprintf("deploy %s → %s (%s)", a.Host, short(a.To), a.Detail)
		}
		return fmt.Sprintf("deploy %s %s → %s (%s)", a.Host, short(a.From), short(a.To), a.Detail)
	case KindRemove:
		return fmt.Sprintf("remove %s (%s)", a.Host, a.Detail)
	}
	return fmt.Sprintf("reload scheduler (%s)", a.Detail)
}

// HostState is a host's state as the drift check sees it.
type HostState string

// Host states.
const (
	StateInSync  HostState = "in-sync"
	StateDrifted HostState = "drifted" // changed outside celeroot
	StatePending HostState = "pending" // an intended change is not applied yet
	StateUnknown HostState = "unknown" // not reachable: neither in sync nor absent
	StateExtra   HostState = "extra"   // applied once, no longer in cl.yaml
)

// Finding is the state of one host, with the reason when it is not in sync.
type Finding struct {
	Host   string    `json:"host"`
	State  HostState `json:"state"`
	Detail string    `json:"detail,omitempty"`
}

// Plan is the ordered list of actions that takes the cluster from its
// applied state to a revision, and the state of every host.
type Plan struct {
	FormatVersion int       `json:"format_version"`
	ID            string    `json:"id"`
	Cluster       string    `json:"cluster"`
	Env           string    `json:"env,omitempty"`
	ClusterID     string    `json:"cluster_id"`
	Generation    int64     `json:"generation"` // the applied generation the plan was made against
	From          string    `json:"from"`       // the applied SHA ("" : never applied)
	To            string    `json:"to"`
	Created       time.Time `json:"created"`
	Actions       []Action  `json:"actions"`
	Hosts         []Finding `json:"hosts"`
	Notes         []string  `json:"notes,omitempty"`
	// DriftOnly: the plan repairs drift only (cl plan --drift-only). Its
	// apply records the hosts' outcomes but never moves the cluster's
	// applied SHA or generation, nor marks a SHA bad.
	DriftOnly bool `json:"drift_only,omitempty"`
	// Fleet: the plan covers one blue-green fleet only (cl plan --cluster
	// F): the hosts of F, no scheduler reload. Its apply records the
	// hosts' outcomes and the fleet's own applied SHA; the cluster's SHA,
	// generation and bad SHAs stay.
	Fleet string `json:"fleet,omitempty"`
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool { return len(p.Actions) == 0 }

// Deploys returns the hosts the plan deploys, in plan order.
func (p *Plan) Deploys() []string { return p.hostsOf(KindDeploy) }

// Removes returns the hosts the plan removes.
func (p *Plan) Removes() []string { return p.hostsOf(KindRemove) }

// ReloadsScheduler reports whether the plan publishes the schedule set.
func (p *Plan) ReloadsScheduler() bool {
	return slices.ContainsFunc(p.Actions, func(a Action) bool { return a.Kind == KindReloadScheduler })
}

func (p *Plan) hostsOf(k Kind) []string {
	var out []string
	for _, a := range p.Actions {
		if a.Kind == k {
			out = append(out, a.Host)
		}
	}
	return out
}

// Drifted counts the hosts found drifted.
func (p *Plan) Drifted() int {
	n := 0
	for _, f := range p.Hosts {
		if f.State == StateDrifted {
			n++
		}
	}
	return n
}

// HostApplied is what was last applied to one host.
type HostApplied struct {
	SHA     string    `json:"sha"`
	OK      bool      `json:"ok"`
	Error   string    `json:"error,omitempty"`
	Applied time.Time `json:"applied"`
}

// Observation is what the drift probe saw on one host.
type Observation struct {
	Reachable bool   `json:"reachable"`
	Current   string `json:"current"` // the release `current` points to ("" : none)
	Worker    string `json:"worker"`  // the release the worker heartbeats ("" : no live worker, "?" : unknown)
	Error     string `json:"error,omitempty"`
}

// Input is everything a plan is computed from. Revisions holds the earlier
// revisions the plan may compare with (the SHAs applied to hosts, and what
// hosts run), as far as they could be read.
type Input struct {
	To        *Revision
	Env       string
	State     State
	Revisions map[string]*Revision
	Observed  map[string]Observation // nil: hosts were not observed
	Published *schedule.Set          // the schedule set the beats run (nil: none)
	Prune     bool
	DriftOnly bool   // plan only corrective actions
	Fleet     string // plan only this fleet's hosts, and no scheduler reload ("" : every host)
	NoRepair  bool   // plan no corrective actions (self-heal off): drift is reported only
	Now       time.Time
	ID        string
}

// Build computes the plan. It is a pure function of its input.
func Build(in Input) *Plan {
	p := &Plan{FormatVersion: FormatVersion, ID: in.ID, Cluster: in.To.Config.Cluster.Name, Env: in.Env,
		ClusterID: in.State.ClusterID, Generation: in.State.Generation, From: in.State.SHA, To: in.To.SHA,
		Created: in.Now, Actions: []Action{}, Hosts: []Finding{}, DriftOnly: in.DriftOnly, Fleet: in.Fleet}
	for _, name := range in.To.Config.Hosts.Keys() {
		if in.Fleet != "" && in.To.Config.FleetOf(name) != in.Fleet {
			continue
		}
		a, f := in.host(name)
		if a != nil && a.Corrective() && (in.NoRepair || in.assessOnly(name)) {
			f.Detail += "; not repaired (" + in.whyNot(name) + ")"
			a = nil
		}
		p.Hosts = append(p.Hosts, f)
		if a != nil && (!in.DriftOnly || a.Corrective()) {
			a.Fleet = in.To.Config.FleetOf(name)
			p.Actions = append(p.Actions, *a)
		}
	}
	var gone []string
	for name := range in.State.Hosts {
		if _, ok := in.To.Config.Hosts.Get(name); !ok && (in.Fleet == "" || in.appliedFleet(name) == in.Fleet) {
			gone = append(gone, name)
		}
	}
	sort.Strings(gone)
	for _, name := range gone {
		detail := "not in cl.yaml; prune off: left alone"
		if in.Prune {
			detail = "not in cl.yaml; prune on"
			if !in.DriftOnly {
				p.Actions = append(p.Actions, Action{Kind: KindRemove, Host: name, From: in.State.Hosts[name].SHA, Reason: ReasonPrune, Detail: detail, Fleet: in.appliedFleet(name)})
			}
		}
		p.Hosts = append(p.Hosts, Finding{Host: name, State: StateExtra, Detail: detail})
	}
	switch {
	case in.Fleet != "":
		// One fleet moves: the beats keep their schedules (which fleet
		// they fire to is `cl cluster switch`'s business).
		if in.scheduler() != nil {
			p.Notes = append(p.Notes, "fleet "+in.Fleet+" only: the schedule set changed but is not published (plan without --cluster to reload the scheduler and move the cluster)")
		}
	case !in.DriftOnly:
		if a := in.scheduler(); a != nil {
			p.Actions = append(p.Actions, *a)
		}
	}
	return p
}

// appliedFleet is the fleet a host had in the applied revision ("" when
// unknown): the fleet a removal touches.
func (in *Input) appliedFleet(name string) string {
	if rev, ok := in.Revisions[in.State.SHA]; ok && rev != nil && rev.Config != nil {
		return rev.Config.FleetOf(name)
	}
	return ""
}

func (in *Input) assessOnly(name string) bool {
	h, ok := in.To.Config.Hosts.Get(name)
	return ok && h.AssessOnly
}

func (in *Input) whyNot(name string) string {
	if in.assessOnly(name) {
		return "assess-only host"
	}
	return "self-heal off"
}

// host plans one host of the revision.
func (in *Input) host(name string) (*Action, Finding) {
	to, _ := in.To.viewFor(name)
	applied, wasApplied := in.State.Hosts[name]
	obs, observed := in.Observed[name]
	deploy := func(from string, r Reason, detail string) *Action {
		return &Action{Kind: KindDeploy, Host: name, From: from, To: in.To.SHA, Reason: r, Detail: detail}
	}
	if observed && !obs.Reachable {
		f := Finding{Host: name, State: StateUnknown, Detail: "unreachable: " + firstLine(obs.Error)}
		if !wasApplied {
			return deploy("", ReasonNewHost, "new host; unreachable now"), f
		}
		if a := in.changed(name, applied.SHA, to); a != nil {
			a.Detail += "; unreachable now"
			return a, f
		}
		return nil, f
	}
	// What the host runs, when it was seen: the release `current` points to
	// and the one its worker reports.
	runs := ""
	if observed {
		runs = obs.Current
	}
	switch {
	case !wasApplied && observed && runs != "":
		// Deployed before the agent knew it (cl host deploy): compare with
		// what it runs.
		if a := in.changed(name, runs, to); a != nil {
			return a, Finding{Host: name, State: StatePending, Detail: a.Detail}
		}
		return nil, Finding{Host: name, State: StateInSync, Detail: "runs " + short(runs) + " (nothing it receives changed since)"}
	case !wasApplied:
		d := "new host"
		if observed {
			d = "new host; no release on it"
		}
		return deploy("", ReasonNewHost, d), Finding{Host: name, State: StatePending, Detail: d}
	}
	if observed && runs != applied.SHA {
		d := "drift: runs " + orNone(runs) + ", applied " + short(applied.SHA)
		return deploy(runs, ReasonDrift, d), Finding{Host: name, State: StateDrifted, Detail: d}
	}
	if observed && obs.Worker != "?" && obs.Worker != applied.SHA {
		d := "drift: no live worker"
		if obs.Worker != "" {
			d = "drift: worker runs " + short(obs.Worker) + ", applied " + short(applied.SHA)
		}
		return deploy(runs, ReasonDrift, d), Finding{Host: name, State: StateDrifted, Detail: d}
	}
	if !applied.OK {
		d := "last apply failed: " + firstLine(applied.Error)
		return deploy(applied.SHA, ReasonRetry, d), Finding{Host: name, State: StatePending, Detail: d}
	}
	if a := in.changed(name, applied.SHA, to); a != nil {
		return a, Finding{Host: name, State: StatePending, Detail: a.Detail}
	}
	return nil, Finding{Host: name, State: StateInSync}
}

// changed plans a deploy when what the host receives differs between the
// revision at sha and the desired one.
func (in *Input) changed(name, sha string, to hostView) *Action {
	if sha == in.To.SHA {
		return nil
	}
	a := &Action{Kind: KindDeploy, Host: name, From: sha, To: in.To.SHA, Reason: ReasonChanged}
	rev, ok := in.Revisions[sha]
	if !ok {
		a.Detail = "the commit it runs (" + short(sha) + ") cannot be read: deploying the whole release"
		return a
	}
	from, ok := rev.viewFor(name)
	if !ok {
		a.Detail = "not declared at " + short(sha)
		return a
	}
	files := changedFiles(from, to)
	var parts []string
	if d := describeFiles(files); d != "" {
		parts = append(parts, d)
	}
	if from.config != to.config {
		parts = append(parts, "its configuration changed")
	}
	if len(parts) == 0 {
		return nil
	}
	a.Detail = strings.Join(parts, "; ")
	return a
}

// scheduler plans a reload when the schedule set differs from the one the
// beats run.
func (in *Input) scheduler() *Action {
	want := schedule.FromConfig(in.To.Config, in.To.SHA, "agent")
	if in.Published != nil && in.Published.Digest() == want.Digest() {
		return nil
	}
	detail := "no schedule set published yet"
	if in.Published != nil {
		detail = "schedules changed: " + strings.Join(changedSchedules(in.Published, want), ", ")
	}
	return &Action{Kind: KindReloadScheduler, To: in.To.SHA, Reason: ReasonSchedules, Detail: detail}
}

// changedSchedules names the schedules that differ between two sets (and
// "targets" when only the hosts they reach changed).
func changedSchedules(a, b *schedule.Set) []string {
	specs := func(s *schedule.Set) map[string]string {
		m := map[string]string{}
		for _, sp := range s.Schedules {
			j, _ := json.Marshal(sp)
			m[sp.Name] = string(j)
		}
		return m
	}
	sa, sb := specs(a), specs(b)
	var out []string
	for n, j := range sb {
		if old, ok := sa[n]; !ok {
			out = append(out, n+" (new)")
		} else if old != j {
			out = append(out, n)
		}
	}
	for n := range sa {
		if _, ok := sb[n]; !ok {
			out = append(out, n+" (removed)")
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		out = []string{"the hosts they reach"}
	}
	return out
}

func short(v string) string {
	if len(v) > 7 && !strings.Contains(v, "-dirty-") {
		return v[:7]
	}
	return v
}

func orNone(v string) string {
	if v == "" {
		return "nothing"
	}
	return short(v)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if s == "" {
		return "no detail"
	}
	return s
}

func itoa(n int) string { return strconv.Itoa(n) }
