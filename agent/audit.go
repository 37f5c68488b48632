package agent

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/celeroot/celeroot/audit"
	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/reconcile"
	gitsync "github.com/celeroot/celeroot/sync"
	"github.com/celeroot/celeroot/sync/webhook"
)

// Auditor appends the agent's records to the audit trail (*audit.Trail).
type Auditor interface {
	Append(ctx context.Context, r audit.Record) (audit.Record, error)
}

// AuditOptions say how the agent's applies are recorded (docs/audit.md).
type AuditOptions struct {
	Trail Auditor
	// FailClosed: an apply whose "started" record cannot be written does
	// not run (it is retried like an apply that could not take the lock).
	FailClosed bool
	// Commit returns a commit's author and committer ("Name <email>").
	Commit func(ctx context.Context, sha string) (author, committer string)
	// Delivery returns the id of the webhook delivery that asked for this
	// sync, or "" (poll, file watch, no webhooks).
	Delivery func() string
}

// NewAuditOptions records the applies of an agent whose commits come from
// src into cfg's audit trail for env on store (audit.fail_closed honoured):
// the one wiring of `cl agent` and `cl dev`.
func NewAuditOptions(cfg *config.Config, env string, store audit.Store, src *gitsync.Source) (*AuditOptions, error) {
	trail, err := audit.ForConfig(cfg, env, store, true)
	if err != nil {
		return nil, err
	}
	return &AuditOptions{Trail: trail, FailClosed: cfg.Audit.FailClosed, Commit: func(ctx context.Context, sha string) (string, string) {
		c, err := src.Commit(ctx, sha)
		if err != nil {
			return "", ""
		}
		return strings.TrimSpace(c.Author + " <" + c.AuthorEmail + ">"), c.Committer
	}}, nil
}

// auditApply appends one record of an apply of rev: result started, ok or
// failed; targets the plan's hosts (and "scheduler" for a reload).
func (a *Agent) auditApply(ctx context.Context, plan *reconcile.Plan, sha, delivery string, res audit.Result) error {
	o := a.Audit
	if o == nil || o.Trail == nil {
		return nil
	}
	var author, committer string
	if o.Commit != nil {
		author, committer = o.Commit(ctx, sha)
	}
	var targets []string
	seen := map[string]bool{}
	for _, act := range plan.Actions {
		t := "scheduler"
		if act.Host != "" {
			t = "host:" + act.Host
		}
		if !seen[t] {
			seen[t] = true
			targets = append(targets, t)
		}
	}
	// Written even when the apply was interrupted.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	_, err := o.Trail.Append(actx, audit.Record{Actor: audit.AgentActor(author, committer, delivery),
		Action: "agent.apply", Targets: targets, SHA: sha, Result: res})
	return err
}

// auditResult records how an apply ended; an apply that never started
// (lock held, Redis down) is not an apply and leaves no record.
func (a *Agent) auditResult(ctx context.Context, plan *reconcile.Plan, sha, delivery string, res *reconcile.Result, err error) {
	if res == nil && !errors.Is(err, reconcile.ErrApplyFailed) {
		return
	}
	r := audit.ResultOK
	if err != nil {
		r = audit.ResultFailed
	}
	if aerr := a.auditApply(ctx, plan, sha, delivery, r); aerr != nil {
		a.log().Error("audit record not written", "sha", sha, "err", aerr)
	}
}

// deliveries hands out the ids of webhook deliveries that asked for a
// fetch, each to one apply: the newest one not handed out yet.
type deliveries struct {
	ledger interface{ Snapshot() []webhook.Delivery }
	last   time.Time
}

func newDeliveries(l interface{ Snapshot() []webhook.Delivery }) *deliveries {
	return &deliveries{ledger: l, last: time.Now()}
}

func (d *deliveries) next() string {
	for _, dl := range d.ledger.Snapshot() { // newest first
		if !dl.Time.After(d.last) {
			return ""
		}
		if dl.Outcome.Triggered() && dl.ID != "" {
			d.last = dl.Time
			return dl.ID
		}
	}
	return ""
}
