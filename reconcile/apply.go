package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"
)

// Deployer puts a revision on hosts (the deploy engine, with the
// configured strategy, health checks and rollbacks).
type Deployer interface {
	Deploy(ctx context.Context, rev *Revision, hosts []string) (map[string]HostResult, error)
}

// HostResult is one host's outcome of a deploy.
type HostResult struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// Remover stops and disables the worker of a host that left cl.yaml.
type Remover interface {
	Remove(ctx context.Context, host string) error
}

// Publisher publishes a revision's schedule set to the beats.
type Publisher interface {
	PublishSchedules(ctx context.Context, rev *Revision) error
}

// Applier carries out plans.
type Applier struct {
	Store     Store
	Deployer  Deployer
	Remover   Remover // nil: remove actions fail
	Publisher Publisher
	Log       *slog.Logger
	Now       func() time.Time
	// Timings, when set, records how long each apply and its deploys took
	// (`cl cluster metrics`); a failure to record is logged, never fatal.
	Timings Timings
}

// Timings records durations of operations (*queue.Queue).
type Timings interface {
	RecordTiming(ctx context.Context, kind string, d time.Duration, ok bool) error
}

func (a *Applier) timing(ctx context.Context, kind string, d time.Duration, ok bool) {
	if a.Timings == nil {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := a.Timings.RecordTiming(rctx, kind, d, ok); err != nil {
		a.log().Warn("record timing", "kind", kind, "err", err)
	}
}

// Result is what an apply did.
type Result struct {
	PlanID   string                `json:"plan_id"`
	SHA      string                `json:"sha"`
	Repair   bool                  `json:"drift_only,omitempty"` // a drift-only plan: the cluster did not move
	Fleet    string                `json:"fleet,omitempty"`      // a fleet-only plan: only this fleet moved
	OK       bool                  `json:"ok"`
	Error    string                `json:"error,omitempty"`
	Hosts    map[string]HostResult `json:"hosts"`
	Removed  []string              `json:"removed,omitempty"`
	Reloaded bool                  `json:"scheduler_reloaded"`
	State    State                 `json:"-"`
	Started  time.Time             `json:"started"`
	Duration time.Duration         `json:"duration_ns"`
}

// ErrApplyFailed is matched by the error of an apply in which an action
// failed.
var ErrApplyFailed = errors.New("apply failed")

// Apply carries out p, whose target revision is rev, and records the
// outcome. The caller holds the apply lock. The plan must have been made
// against the current state (else ErrStale). The applied SHA advances only
// when every action succeeded; a failure marks the SHA bad. A drift-only
// plan never moves the applied SHA or generation: only its hosts' outcomes
// are recorded. A fleet-only plan (Plan.Fleet) records its hosts' outcomes
// and the fleet's own SHA (State.Fleets), never the cluster's.
func (a *Applier) Apply(ctx context.Context, p *Plan, rev *Revision) (*Result, error) {
	now := a.now()
	st, err := a.Store.Load(ctx)
	if err != nil {
		return nil, err
	}
	if err := CheckFresh(p, st); err != nil {
		return nil, err
	}
	if rev.SHA != p.To {
		return nil, fmt.Errorf("apply plan %s: the revision is %s, the plan is for %s", p.ID, short(rev.SHA), short(p.To))
	}
	res := &Result{PlanID: p.ID, SHA: p.To, Repair: p.DriftOnly, Fleet: p.Fleet, Hosts: map[string]HostResult{}, Started: now}
	var failures []string
	if hosts := p.Deploys(); len(hosts) > 0 {
		began := a.now()
		got, err := a.Deployer.Deploy(ctx, rev, hosts)
		deployOK := err == nil
		for _, h := range hosts {
			deployOK = deployOK && got[h].OK
		}
		a.timing(ctx, "deploy", a.now().Sub(began), deployOK)
		for _, h := range hosts {
			r, ok := got[h]
			if !ok {
				r = HostResult{Error: "not deployed"}
				if err != nil {
					r.Error = err.Error()
				}
			}
			res.Hosts[h] = r
			if !r.OK {
				failures = append(failures, h+": "+firstLine(r.Error))
			}
		}
		if err != nil && len(failures) == 0 {
			failures = append(failures, err.Error())
		}
	}
	if ctx.Err() == nil {
		for _, h := range p.Removes() {
			if a.Remover == nil {
				failures = append(failures, "remove "+h+": no remover")
				continue
			}
			if err := a.Remover.Remove(ctx, h); err != nil {
				failures = append(failures, "remove "+h+": "+err.Error())
				continue
			}
			res.Removed = append(res.Removed, h)
		}
	}
	// The beats move to the revision's schedules only with its hosts.
	if p.ReloadsScheduler() && len(failures) == 0 && ctx.Err() == nil {
		if err := a.Publisher.PublishSchedules(ctx, rev); err != nil {
			failures = append(failures, "reload scheduler: "+err.Error())
		} else {
			res.Reloaded = true
		}
	}
	if err := ctx.Err(); err != nil && len(failures) == 0 {
		failures = append(failures, "interrupted: "+context.Cause(ctx).Error())
	}
	res.OK = len(failures) == 0
	sort.Strings(failures)
	res.Error = strings.Join(failures, "; ")
	// A drift-only plan repairs hosts: their outcomes are recorded, the
	// cluster's SHA, generation and bad SHAs stay.
	o := Outcome{Expect: st.Generation, SHA: p.To, Hosts: map[string]HostApplied{}, Remove: res.Removed, OK: res.OK, Error: res.Error, At: a.now(),
		Repair: p.DriftOnly}
	if !p.DriftOnly {
		o.Fleet = p.Fleet
	}
	for h, r := range res.Hosts {
		o.Hosts[h] = HostApplied{SHA: p.To, OK: r.OK, Error: r.Error, Applied: o.At}
		if !r.OK {
			// A host that failed keeps (or got back) its old release: record
			// what was applied to it before, marked failed.
			prev := st.Hosts[h]
			o.Hosts[h] = HostApplied{SHA: prev.SHA, OK: false, Error: r.Error, Applied: o.At}
		}
	}
	// Recording must happen even when ctx was cancelled mid-apply.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	st, err = a.Store.Record(rctx, o)
	if err != nil {
		return res, fmt.Errorf("record apply of %s: %w", short(p.To), err)
	}
	res.State = st
	res.Duration = a.now().Sub(now)
	a.timing(ctx, "apply", res.Duration, res.OK)
	a.log().Info("apply", "plan", p.ID, "sha", p.To, "fleet", p.Fleet, "ok", res.OK, "hosts", len(res.Hosts), "removed", len(res.Removed),
		"scheduler_reloaded", res.Reloaded, "generation", st.Generation, "error", res.Error)
	if !res.OK {
		return res, fmt.Errorf("%w: %s", ErrApplyFailed, res.Error)
	}
	return res, nil
}

// CheckFresh refuses a plan made against another state than st.
func CheckFresh(p *Plan, st State) error {
	switch {
	case p.ClusterID != "" && p.ClusterID != st.ClusterID:
		return fmt.Errorf("%w: made for cluster id %s, Redis holds %s (another cluster, or its state was reset): run cl plan again", ErrStale, p.ClusterID, st.ClusterID)
	case p.Generation != st.Generation || p.From != st.SHA:
		return fmt.Errorf("%w: made at generation %d (%s), the cluster is at generation %d (%s) now: run cl plan again",
			ErrStale, p.Generation, orNone(p.From), st.Generation, orNone(st.SHA))
	}
	return nil
}

func (a *Applier) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Applier) log() *slog.Logger {
	if a.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Log
}

// UseSaved checks that a saved plan is fresh against the store's state and
// marks it used: a saved plan applies once.
func UseSaved(ctx context.Context, store Store, p *Plan) error {
	st, err := store.Load(ctx)
	if err != nil {
		return err
	}
	if err := CheckFresh(p, st); err != nil {
		return err
	}
	first, err := store.UsePlan(ctx, p.ID)
	if err != nil {
		return err
	}
	if !first {
		return fmt.Errorf("plan %s was applied already (a saved plan is single-use): run cl plan again", p.ID)
	}
	return nil
}

// Summary is the apply's outcome in one line: applied or failed, hosts
// deployed, hosts removed, scheduler reloaded.
func (r *Result) Summary() string {
	var b strings.Builder
	ok := 0
	for _, h := range r.Hosts {
		if h.OK {
			ok++
		}
	}
	switch {
	case r.Repair && r.OK:
		fmt.Fprintf(&b, "repaired drift (the cluster stays at %s, generation %d)", orNone(r.State.SHA), r.State.Generation)
	case r.Repair:
		fmt.Fprintf(&b, "FAILED drift repair: %s", r.Error)
	case r.Fleet != "" && r.OK:
		fmt.Fprintf(&b, "applied %s to fleet %s (the cluster stays at %s, generation %d; scheduler not reloaded)",
			r.SHA[:min(12, len(r.SHA))], r.Fleet, orNone(r.State.SHA), r.State.Generation)
	case r.Fleet != "":
		fmt.Fprintf(&b, "FAILED %s on fleet %s: %s", r.SHA[:min(12, len(r.SHA))], r.Fleet, r.Error)
	case r.OK:
		fmt.Fprintf(&b, "applied %s (generation %d)", r.SHA[:min(12, len(r.SHA))], r.State.Generation)
	default:
		fmt.Fprintf(&b, "FAILED %s: %s", r.SHA[:min(12, len(r.SHA))], r.Error)
	}
	if len(r.Hosts) > 0 {
		fmt.Fprintf(&b, "; %d of %d host(s) deployed", ok, len(r.Hosts))
	}
	if len(r.Removed) > 0 {
		fmt.Fprintf(&b, "; removed %s", strings.Join(r.Removed, ", "))
	}
	if r.Reloaded {
		b.WriteString("; scheduler reloaded")
	}
	return b.String()
}
