package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"time"

	"github.com/celeroot/celeroot/audit"
	"github.com/celeroot/celeroot/reconcile"
)

// Source is the tracked branch of the config repository.
type Source interface {
	// Fetch brings the branch up to date and returns its head SHA. A fetch
	// with nothing new costs one ref listing.
	Fetch(ctx context.Context) (string, error)
}

// Locked runs fn while holding the apply lock (the deploy lock); fn's
// context ends when the lock is lost.
type Locked func(ctx context.Context, sha string, fn func(context.Context) error) error

// Options are the agent's settings.
type Options struct {
	Interval time.Duration // poll period (jittered ±10%)
	// DriftInterval: check the hosts for drift this often even without a
	// new commit (0: never; ServeOptions takes a negative value for
	// monitoring.health_check_interval).
	DriftInterval time.Duration
	AutoApply     bool          // apply plans; false: they wait for `cl apply`
	ApplyTimeout  time.Duration // deadline of one apply
	FetchTimeout  time.Duration
}

// Agent is the sync loop: it notices new commits (poll, Trigger from
// webhooks and file watches), plans, and applies under the lock.
type Agent struct {
	Source  Source
	Planner *Planner
	Applier *reconcile.Applier
	Lock    Locked
	Log     *slog.Logger
	Opts    Options
	Status  *Status
	Metrics *Metrics
	Audit   *AuditOptions // nil: applies are not audited
	// Drift, when set, is the periodic drift check and self-heal (else
	// the hosts are re-planned).
	Drift *DriftCheck
	// Before, when set, runs under the lock before each apply
	// (BackupBeforeApply); its error refuses the apply.
	Before BeforeApply
	// History, when set, keeps a record of each apply and repair (the
	// dashboard's apply history).
	History ApplyHistory

	healFails int       // repairs in a row that failed
	healWake  time.Time // no repair before then (backoff)
	trigger   chan struct{}
	last      string    // the SHA last planned
	lastObs   time.Time // when the hosts were last observed
	wake      time.Time // sync again then at the latest (a retry); zero: at the next poll
}

// retryBase is the first retry delay of a failed commit (reconcile's
// backoff, which the agent waits out before planning it again).
const retryBase = 2 * time.Second

// lockRetry is how soon an apply that could not start (the lock was held,
// Redis was down) is tried again.
const lockRetry = 5 * time.Second

// Trigger asks for a sync now. Triggers while one is pending coalesce; it
// reports whether this one did.
func (a *Agent) Trigger() (coalesced bool) {
	select {
	case a.trig() <- struct{}{}:
		return false
	default:
		return true
	}
}

func (a *Agent) trig() chan struct{} {
	if a.trigger == nil {
		a.trigger = make(chan struct{}, 1)
	}
	return a.trigger
}

// Run syncs at once, then on every trigger and poll until ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	trig := a.trig()
	for {
		a.Sync(ctx)
		wait := jitter(a.Opts.Interval)
		if a.Opts.DriftInterval > 0 {
			wait = min(wait, time.Until(a.lastObs.Add(a.Opts.DriftInterval)))
		}
		if !a.wake.IsZero() {
			wait = min(wait, time.Until(a.wake))
		}
		t := time.NewTimer(max(wait, 10*time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-trig:
		case <-t.C:
		}
		t.Stop()
	}
}

// Sync fetches, and plans (and applies) when the head moved or the drift
// check is due. It never returns an error: outcomes go to the status,
// metrics and log.
func (a *Agent) Sync(ctx context.Context) {
	start := time.Now()
	fctx, cancel := context.WithTimeout(ctx, a.fetchTimeout())
	sha, err := a.Source.Fetch(fctx)
	cancel()
	a.Status.synced(start, sha, err)
	a.Metrics.sync(time.Since(start), err)
	if err != nil {
		a.log().Error("fetch", "err", err)
		return
	}
	due := a.Opts.DriftInterval > 0 && time.Since(a.lastObs) >= a.Opts.DriftInterval
	if sha == a.last && !due {
		return
	}
	if sha == a.last && a.Drift != nil {
		a.heal(ctx, sha)
		return
	}
	a.reconcile(ctx, sha)
}

func (a *Agent) reconcile(ctx context.Context, sha string) {
	a.wake = time.Time{}
	start := time.Now()
	rev, err := a.Planner.Revisions.Revision(ctx, sha)
	a.last = sha
	if err != nil {
		// An invalid commit is reported once; the next commit is planned.
		a.Status.planned(start, sha, nil, fmt.Errorf("%s not applied: %w", short(sha), err))
		a.Metrics.plan("invalid")
		a.log().Error("load revision", "sha", sha, "err", err)
		return
	}
	plan, err := a.Planner.Plan(ctx, rev, false)
	a.lastObs = time.Now()
	a.Status.planned(start, sha, plan, err)
	a.Metrics.planTook(time.Since(start))
	if err != nil {
		a.Metrics.plan("error")
		a.log().Error("plan", "sha", sha, "err", err)
		return
	}
	a.Metrics.planned(plan)
	if plan.Empty() {
		a.Metrics.plan("in-sync")
		a.log().Debug("in sync", "sha", sha)
		return
	}
	a.Metrics.plan("changes")
	for _, act := range plan.Actions {
		a.log().Info("planned", "action", act.String(), "corrective", act.Corrective())
	}
	if !a.Opts.AutoApply {
		return
	}
	st, err := a.Planner.Store.Load(ctx)
	if err == nil {
		if b, bad := st.Bad[sha]; bad && time.Now().Before(b.RetryAt()) {
			a.log().Info("not retrying a failed commit yet", "sha", sha, "attempts", b.Attempts, "retry_at", b.RetryAt())
			a.last, a.wake = "", b.RetryAt() // plan again after the backoff
			return
		}
	}
	a.apply(ctx, plan, rev)
}

// apply carries out plan under the lock, re-planning there so that the plan
// is fresh.
func (a *Agent) apply(ctx context.Context, plan *reconcile.Plan, rev *reconcile.Revision) {
	start := time.Now()
	actx, cancel := context.WithTimeout(ctx, a.applyTimeout())
	defer cancel()
	delivery := ""
	if a.Audit != nil && a.Audit.Delivery != nil {
		delivery = a.Audit.Delivery()
	}
	if a.Audit != nil && a.Audit.FailClosed {
		if err := a.auditApply(actx, plan, rev.SHA, delivery, audit.ResultStarted); err != nil {
			a.log().Error("apply refused: its audit record cannot be written (audit.fail_closed)", "sha", rev.SHA, "err", err)
			a.last, a.wake = "", time.Now().Add(lockRetry)
			return
		}
	}
	var res *reconcile.Result
	err := a.Lock(actx, rev.SHA, func(ctx context.Context) error {
		if st, err := a.Planner.Store.Load(ctx); err != nil {
			return err
		} else if reconcile.CheckFresh(plan, st) != nil {
			// Another agent or `cl apply` moved the cluster: plan again.
			if plan, err = a.Planner.Plan(ctx, rev, false); err != nil {
				return err
			}
			a.Status.planned(time.Time{}, rev.SHA, plan, nil)
			if plan.Empty() {
				return nil
			}
		}
		if a.Before != nil {
			if err := a.Before(ctx, rev); err != nil {
				return err
			}
		}
		var err error
		res, err = a.Applier.Apply(ctx, plan, rev)
		return err
	})
	a.Status.applied(start, rev.SHA, res, err)
	if res != nil || err != nil {
		a.record(ctx, applyRecord(start, plan, rev.SHA, res, err))
	}
	a.auditResult(ctx, plan, rev.SHA, delivery, res, err)
	a.Metrics.apply(time.Since(start), res, err)
	if err != nil {
		a.log().Error("apply", "sha", rev.SHA, "err", err)
		switch {
		case errors.Is(err, reconcile.ErrApplyFailed):
			a.last, a.wake = "", time.Now().Add(retryBase) // retried after its backoff
		default:
			a.last, a.wake = "", time.Now().Add(lockRetry) // not applied at all (lock held, Redis down)
		}
		return
	}
	a.log().Info("applied", "sha", rev.SHA, "duration", time.Since(start).Round(time.Millisecond))
}

func (a *Agent) fetchTimeout() time.Duration {
	if a.Opts.FetchTimeout > 0 {
		return a.Opts.FetchTimeout
	}
	return 2 * time.Minute
}

func (a *Agent) applyTimeout() time.Duration {
	if a.Opts.ApplyTimeout > 0 {
		return a.Opts.ApplyTimeout
	}
	return 30 * time.Minute
}

func (a *Agent) log() *slog.Logger {
	if a.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Log
}

// jitter spreads d by ±10% so that agents do not poll in step.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		d = time.Minute
	}
	return d - d/10 + time.Duration(mrand.Int64N(int64(d/5)+1))
}

func newPlanID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
