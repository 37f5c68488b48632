package agent

import (
	"context"
	"sync"
	"time"

	"github.com/celeroot/celeroot/deploy"
	"github.com/celeroot/celeroot/drift"
	"github.com/celeroot/celeroot/reconcile"
)

// Status is the agent's read model, served at /api/v1/status. It is safe
// for concurrent use.
type Status struct {
	mu        sync.Mutex
	repo      string
	branch    string
	head      string
	lastSync  *Event
	lastApply *ApplyEvent
	lastPlan  *Event
	plan      *reconcile.Plan
	planErr   string
	hosts     []reconcile.Finding
	drift     *drift.Report
	driftErr  string
	repair    *RepairEvent
	started   time.Time
	// ReadLock reports who holds the apply (deploy) lock; nil: not shown.
	ReadLock func(ctx context.Context) (*deploy.LockInfo, error)
}

// Event is the outcome of one sync.
type Event struct {
	At       time.Time `json:"at"`
	Duration string    `json:"duration"`
	SHA      string    `json:"sha,omitempty"`
	Result   string    `json:"result"` // ok | error
	Error    string    `json:"error,omitempty"`
}

// ApplyEvent is the outcome of one apply.
type ApplyEvent struct {
	Event
	Hosts map[string]reconcile.HostResult `json:"hosts,omitempty"`
}

// RepairEvent is the outcome of one self-heal repair: corrective work,
// reported apart from applies (intended changes).
type RepairEvent struct {
	Event
	Hosts map[string]reconcile.HostResult `json:"hosts,omitempty"`
	SHA   map[string]string               `json:"sha,omitempty"` // the release each host was put back on
}

// StatusDoc is the JSON document of /api/v1/status.
type StatusDoc struct {
	Repo       string      `json:"repo"`
	Branch     string      `json:"branch"`
	Started    time.Time   `json:"started"`
	Head       string      `json:"head_sha"`
	Applied    string      `json:"applied_sha"`
	Generation int64       `json:"generation"`
	ClusterID  string      `json:"cluster_id"`
	LastSync   *Event      `json:"last_sync"`
	LastApply  *ApplyEvent `json:"last_apply"`
	// LastPlan is the last plan made on a new commit: from the fetched
	// revision to the plan (loading the commit, the applied state, the
	// observation of every host).
	LastPlan   *Event                      `json:"last_plan"`
	Pending    *reconcile.Plan             `json:"pending_plan"`
	PlanError  string                      `json:"plan_error,omitempty"`
	Hosts      []reconcile.Finding         `json:"hosts"`
	Bad        map[string]reconcile.BadSHA `json:"bad_shas,omitempty"`
	Deliveries any                         `json:"deliveries"`
	Lock       *deploy.LockInfo            `json:"apply_lock"` // who applies or deploys now (null: nobody)
	// Drift is the last periodic drift check (null: none yet), LastRepair
	// the last self-heal repair (corrective; null: none).
	Drift      *drift.Report `json:"drift"`
	DriftError string        `json:"drift_error,omitempty"`
	LastRepair *RepairEvent  `json:"last_repair"`
}

// NewStatus starts a status for the repository and branch.
func NewStatus(repo, branch string) *Status {
	return &Status{repo: repo, branch: branch, started: time.Now().UTC()}
}

func (s *Status) synced(start time.Time, sha string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ev := &Event{At: start.UTC(), Duration: time.Since(start).Round(time.Millisecond).String(), SHA: sha, Result: "ok"}
	if err != nil {
		ev.Result, ev.Error = "error", err.Error()
	} else {
		s.head = sha
	}
	s.lastSync = ev
}

// planned records the plan of sha (or why there is none); a zero start
// (a plan made again under the apply lock) leaves last_plan as it is.
func (s *Status) planned(start time.Time, sha string, p *reconcile.Plan, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !start.IsZero() {
		ev := &Event{At: start.UTC(), Duration: time.Since(start).Round(time.Millisecond).String(), SHA: sha, Result: "ok"}
		if err != nil {
			ev.Result, ev.Error = "error", err.Error()
		}
		s.lastPlan = ev
	}
	s.plan, s.planErr = p, ""
	if p != nil {
		s.hosts = p.Hosts
	}
	if err != nil {
		s.planErr = err.Error()
	}
}

func (s *Status) applied(start time.Time, sha string, res *reconcile.Result, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ev := &ApplyEvent{Event: Event{At: start.UTC(), Duration: time.Since(start).Round(time.Millisecond).String(), SHA: sha, Result: "ok"}}
	if res != nil {
		ev.Hosts = res.Hosts
	}
	if err != nil {
		ev.Result, ev.Error = "error", err.Error()
	} else if s.plan != nil && s.plan.To == sha {
		s.plan = nil // carried out: its hosts are in sync now
		hosts := make([]reconcile.Finding, len(s.hosts))
		for i, f := range s.hosts {
			if r, ok := ev.Hosts[f.Host]; (ok && r.OK) || f.State == reconcile.StatePending {
				f = reconcile.Finding{Host: f.Host, State: reconcile.StateInSync}
			}
			hosts[i] = f
		}
		s.hosts = hosts
	}
	s.lastApply = ev
}

func (s *Status) drifted(r *drift.Report, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.driftErr = ""
	if err != nil {
		s.driftErr = err.Error()
		return
	}
	s.drift = r
}

func (s *Status) repaired(start time.Time, r *Repair, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ev := &RepairEvent{Event: Event{At: start.UTC(), Duration: time.Since(start).Round(time.Millisecond).String(), Result: "ok"}}
	if r != nil {
		ev.Hosts, ev.SHA = r.Hosts, r.SHA
	}
	if err != nil {
		ev.Result, ev.Error = "error", err.Error()
	}
	s.repair = ev
}

// Doc assembles the status document; the applied state is read from the
// store, deliveries from the webhook ledger.
func (s *Status) Doc(ctx context.Context, store reconcile.Store, deliveries any) StatusDoc {
	s.mu.Lock()
	d := StatusDoc{Repo: s.repo, Branch: s.branch, Started: s.started, Head: s.head, LastSync: s.lastSync,
		LastApply: s.lastApply, LastPlan: s.lastPlan, Pending: s.plan, PlanError: s.planErr, Deliveries: deliveries, Hosts: s.hosts,
		Drift: s.drift, DriftError: s.driftErr, LastRepair: s.repair}
	if d.Hosts == nil {
		d.Hosts = []reconcile.Finding{}
	}
	s.mu.Unlock()
	if s.ReadLock != nil {
		d.Lock, _ = s.ReadLock(ctx)
	}
	if store != nil {
		if st, err := store.Load(ctx); err == nil {
			d.Applied, d.Generation, d.ClusterID, d.Bad = st.SHA, st.Generation, st.ClusterID, st.Bad
		}
	}
	return d
}
