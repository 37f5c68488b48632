package agent

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/reconcile"
	"github.com/celeroot/celeroot/schedule"
)

// Revisions loads the desired state at a commit.
type Revisions interface {
	Revision(ctx context.Context, sha string) (*reconcile.Revision, error)
}

// Observer reports what runs on the hosts of a configuration.
type Observer interface {
	Observe(ctx context.Context, cfg *config.Config) map[string]reconcile.Observation
}

// Schedules reads the schedule set the beats run.
type Schedules interface {
	Published(ctx context.Context) (*schedule.Set, error)
}

// Planner computes plans: the desired revision against the applied state in
// the Store and what the Observer sees. `cl plan` and the agent share it.
type Planner struct {
	Revisions Revisions
	Store     reconcile.Store
	Observer  Observer  // nil: hosts are not observed
	Schedules Schedules // nil: the scheduler is always reloaded
	Env       string
	Prune     bool
	// Fleet limits plans to one blue-green fleet's hosts, without a
	// scheduler reload (cl plan --cluster F); "" plans every host.
	Fleet string
	// SelfHeal: corrective actions are planned only when the revision's
	// monitoring.self_heal is on (the agent); false plans them always
	// (cl plan, cl apply).
	SelfHeal bool
}

// Plan plans the way to rev. Earlier revisions that cannot be read (a
// commit that is gone) make the plan deploy whole releases, never fail it.
func (p *Planner) Plan(ctx context.Context, rev *reconcile.Revision, driftOnly bool) (*reconcile.Plan, error) {
	if p.Fleet != "" && !rev.Config.HasFleet(p.Fleet) {
		return nil, fmt.Errorf("--cluster %s: %w", p.Fleet, rev.Config.UnknownFleetError(p.Fleet))
	}
	st, err := p.Store.Load(ctx)
	if err != nil {
		return nil, err
	}
	in := reconcile.Input{To: rev, Env: p.Env, State: st, Revisions: map[string]*reconcile.Revision{rev.SHA: rev},
		Prune: p.Prune, DriftOnly: driftOnly, Fleet: p.Fleet, Now: time.Now().UTC(), ID: newPlanID(),
		NoRepair: p.SelfHeal && !rev.Config.Monitoring.SelfHealOn()}
	if p.Observer != nil {
		in.Observed = p.Observer.Observe(ctx, rev.Config)
	}
	var notes []string
	for _, sha := range earlier(st, in.Observed) {
		if _, ok := in.Revisions[sha]; ok {
			continue
		}
		r, err := p.Revisions.Revision(ctx, sha)
		if err != nil {
			notes = append(notes, fmt.Sprintf("cannot read %s: %v", short(sha), err))
			continue
		}
		in.Revisions[sha] = r
	}
	if p.Schedules != nil {
		if in.Published, err = p.Schedules.Published(ctx); err != nil {
			return nil, err
		}
	}
	plan := reconcile.Build(in)
	plan.Notes = append(plan.Notes, notes...)
	if b, ok := st.Bad[rev.SHA]; ok {
		plan.Notes = append(plan.Notes, fmt.Sprintf("%s failed to apply %d time(s) (last: %s); the agent retries it after %s",
			short(rev.SHA), b.Attempts, firstLine(b.Error), b.RetryAt().UTC().Format(time.RFC3339)))
	}
	return plan, nil
}

// earlier lists the commits a plan compares with: those applied to hosts
// and those hosts run (dirty releases have no commit to read).
func earlier(st reconcile.State, obs map[string]reconcile.Observation) []string {
	seen := map[string]bool{}
	var out []string
	add := func(sha string) {
		if sha != "" && !seen[sha] && !strings.Contains(sha, "-dirty-") {
			seen[sha] = true
			out = append(out, sha)
		}
	}
	add(st.SHA)
	for _, h := range st.Hosts {
		add(h.SHA)
	}
	for _, o := range obs {
		add(o.Current)
	}
	return out
}

func short(v string) string {
	if len(v) > 7 {
		return v[:7]
	}
	return v
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
