package agent

import (
	"context"
	"time"

	"github.com/celeroot/celeroot/drift"
)

// Self-heal backoff: after n repairs in a row that failed, the next one
// waits healBase × 2^(n-1), at most healMax (drift is still checked and
// reported meanwhile).
const (
	healBase = 30 * time.Second
	healMax  = 30 * time.Minute
)

// healBackoff is the wait after fails repairs in a row that failed.
func healBackoff(fails int) time.Duration {
	d := healBase
	for i := 1; i < fails && d < healMax; i++ {
		d *= 2
	}
	return min(d, healMax)
}

// heal is the periodic drift check: report the drift of the hosts and,
// with monitoring.self_heal on at sha, repair it under the apply lock
// (assess-only hosts are never repaired). Corrective work is reported apart
// from applies: Status.LastRepair, the repair metrics, "self-heal" log lines.
func (a *Agent) heal(ctx context.Context, sha string) {
	a.lastObs = time.Now()
	rep, err := a.Drift.Check(ctx, sha)
	a.Status.drifted(rep, err)
	if err != nil {
		a.log().Error("drift check", "sha", sha, "err", err)
		return
	}
	a.Metrics.drifted(rep)
	for _, h := range rep.Hosts {
		for _, f := range h.Findings {
			if f.Class == drift.ClassDrift {
				a.log().Warn("drift", "host", h.Host, "kind", f.Kind, "detail", f.Detail, "assess_only", h.AssessOnly)
			}
		}
	}
	for _, f := range rep.UnknownWorkers {
		a.log().Warn("drift", "host", f.Got, "kind", f.Kind, "detail", f.Detail)
	}
	todo, _ := Planned(rep)
	if len(todo) == 0 {
		return
	}
	rev, err := a.Planner.Revisions.Revision(ctx, sha)
	if err != nil || !rev.Config.Monitoring.SelfHealOn() || !a.Opts.AutoApply {
		a.log().Info("drift not repaired: self-heal is off (monitoring.self_heal: false, or --no-auto-apply); cl cluster reconcile repairs it", "hosts", len(todo))
		return
	}
	if now := time.Now(); now.Before(a.healWake) {
		a.log().Info("self-heal backing off after failed repairs", "failures", a.healFails, "retry_at", a.healWake)
		return
	}
	start := time.Now()
	actx, cancel := context.WithTimeout(ctx, a.applyTimeout())
	defer cancel()
	var res *Repair
	err = a.Lock(actx, sha, func(ctx context.Context) error {
		// Checked again under the lock: an apply may have repaired it.
		rep, err := a.Drift.Check(ctx, sha)
		if err != nil {
			return err
		}
		res, err = a.Drift.Repair(ctx, rep)
		return err
	})
	if err == nil && res != nil && !res.OK() {
		err = errRepairFailed(res)
	}
	a.Status.repaired(start, res, err)
	a.record(ctx, repairRecord(start, sha, res, err))
	a.Metrics.repaired(time.Since(start), res, err)
	if err != nil {
		a.healFails++
		a.healWake = time.Now().Add(healBackoff(a.healFails))
		a.log().Error("self-heal", "err", err, "failures", a.healFails, "retry_at", a.healWake)
		return
	}
	a.healFails, a.healWake = 0, time.Time{}
	if res != nil {
		for h, sha := range res.SHA {
			a.log().Info("self-heal: repaired", "host", h, "sha", sha, "corrective", true)
		}
	}
}
