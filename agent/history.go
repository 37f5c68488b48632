package agent

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/celeroot/celeroot/reconcile"
)

// ApplyHistory keeps the agent's apply records across restarts
// (*queue.Queue: a capped list in Redis).
type ApplyHistory interface {
	AppendApply(ctx context.Context, record []byte) error
	Applies(ctx context.Context, n int) ([][]byte, error)
}

// ApplyRecord is one apply (or self-heal repair) as the history keeps it:
// the plan's actions with their reasons, each host's outcome, and whether
// the SHA was marked bad.
type ApplyRecord struct {
	ID       string                          `json:"id"`   // the plan's id; repair-<time> for a repair
	Kind     string                          `json:"kind"` // apply | repair
	At       time.Time                       `json:"at"`
	Duration time.Duration                   `json:"duration_ns"`
	From     string                          `json:"from,omitempty"`
	SHA      string                          `json:"sha,omitempty"`
	Result   string                          `json:"result"` // ok | error
	Error    string                          `json:"error,omitempty"`
	Actions  []reconcile.Action              `json:"actions,omitempty"`
	Hosts    map[string]reconcile.HostResult `json:"hosts,omitempty"`
	// Repaired is, for a repair, the release each host was put back on.
	Repaired map[string]string `json:"repaired,omitempty"`
	// Bad: the apply failed and its SHA is marked bad (retried after a
	// backoff).
	Bad bool `json:"bad,omitempty"`
}

// record appends rec to the history; a failure is logged, never fatal.
func (a *Agent) record(ctx context.Context, rec ApplyRecord) {
	if a.History == nil {
		return
	}
	b, err := json.Marshal(rec)
	if err != nil {
		a.log().Warn("apply history", "err", err)
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := a.History.AppendApply(rctx, b); err != nil {
		a.log().Warn("apply history", "err", err)
	}
}

// applyRecord builds the record of one apply.
func applyRecord(start time.Time, plan *reconcile.Plan, sha string, res *reconcile.Result, err error) ApplyRecord {
	rec := ApplyRecord{Kind: "apply", At: start.UTC(), Duration: time.Since(start), SHA: sha, Result: "ok"}
	if plan != nil {
		rec.ID, rec.From, rec.Actions = plan.ID, plan.From, plan.Actions
	}
	if res != nil {
		rec.Hosts = res.Hosts
		if res.PlanID != "" {
			rec.ID = res.PlanID
		}
	}
	if err != nil {
		rec.Result, rec.Error = "error", err.Error()
		rec.Bad = errors.Is(err, reconcile.ErrApplyFailed) && (plan == nil || !plan.DriftOnly)
	}
	return rec
}

// repairRecord builds the record of one self-heal repair.
func repairRecord(start time.Time, sha string, r *Repair, err error) ApplyRecord {
	rec := ApplyRecord{ID: "repair-" + start.UTC().Format("20060102T150405.000"), Kind: "repair", At: start.UTC(),
		Duration: time.Since(start), SHA: sha, Result: "ok"}
	if r != nil {
		rec.Hosts, rec.Repaired = r.Hosts, r.SHA
	}
	if err != nil {
		rec.Result, rec.Error = "error", err.Error()
	}
	return rec
}

// decodeRecords reads history records; one that does not decode is skipped.
func decodeRecords(raw [][]byte) []ApplyRecord {
	out := make([]ApplyRecord, 0, len(raw))
	for _, b := range raw {
		var r ApplyRecord
		if json.Unmarshal(b, &r) == nil {
			out = append(out, r)
		}
	}
	return out
}
