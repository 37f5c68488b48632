package agent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/dispatch"
	"github.com/celeroot/celeroot/drift"
	"github.com/celeroot/celeroot/hostexec"
	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/reconcile"
	"github.com/celeroot/celeroot/schedule"
	gitsync "github.com/celeroot/celeroot/sync"
	"github.com/celeroot/celeroot/sync/webhook"
)

// UI builds the dashboard's handler from the agent's read model; cmd/cl
// and devfleet pass dashboard.New (the agent does not import the UI).
type UI func(*ReadModel) http.Handler

// CommitReader describes commits (*sync.Source).
type CommitReader interface {
	Commit(ctx context.Context, sha string) (gitsync.CommitInfo, error)
	CommitSignature(ctx context.Context, sha string) (gitsync.CommitSignature, error)
}

// ReadModel is what the dashboard reads: the agent's status, the
// configuration at the head, the hosts as the last drift check saw them,
// the workers, queues, runs and schedules in Redis, the apply history and
// the webhook ledger. Every method only reads.
type ReadModel struct {
	Agent     *Agent
	Store     reconcile.Store
	Queue     *queue.Queue
	Revisions Revisions
	Commits   CommitReader // nil: no commit details
	// Deliveries is the webhook ledger (nil: no webhooks configured).
	Deliveries func() []webhook.Delivery
	// Signed: commits are verified before they are applied (--require-signed).
	Signed bool
	Env    string
}

// FleetView is the fleet page: every host of cl.yaml at the head.
type FleetView struct {
	Cluster      string      `json:"cluster"`
	Env          string      `json:"env"`
	Head         string      `json:"head_sha"`
	Applied      string      `json:"applied_sha"`
	DriftChecked time.Time   `json:"drift_checked,omitzero"` // zero: no drift check yet
	ReadAt       time.Time   `json:"read_at"`
	Hosts        []FleetHost `json:"hosts"`
	Problem      string      `json:"problem,omitempty"` // why the view is partial
}

// FleetHost is one host's line, and its page.
type FleetHost struct {
	Name     string            `json:"name"`
	Role     string            `json:"role"`
	Address  string            `json:"address"`
	Fleet    string            `json:"fleet,omitempty"`
	Tags     map[string]string `json:"tags,omitempty"`
	State    string            `json:"state"` // in-sync | drifted | pending | unknown
	Reason   string            `json:"reason,omitempty"`
	Running  string            `json:"running_sha,omitempty"` // the worker's heartbeat SHA, else `current` at the last drift check
	Applied  string            `json:"applied_sha,omitempty"` // applied to this host
	Worker   *queue.Heartbeat  `json:"worker,omitempty"`      // nil: no live heartbeat
	Findings []drift.Finding   `json:"findings,omitempty"`
	Releases []string          `json:"releases,omitempty"`
	Facts    *hostexec.Facts   `json:"facts,omitempty"`
}

// Head is the SHA the agent last fetched.
func (m *ReadModel) Head() string {
	m.Agent.Status.mu.Lock()
	defer m.Agent.Status.mu.Unlock()
	return m.Agent.Status.head
}

// config is cl.yaml at the head.
func (m *ReadModel) config(ctx context.Context) (*config.Config, string, error) {
	head := m.Head()
	if head == "" {
		return nil, "", errors.New("the agent has not fetched the repository yet")
	}
	rev, err := m.Revisions.Revision(ctx, head)
	if err != nil {
		return nil, head, fmt.Errorf("cl.yaml at %s: %w", short(head), err)
	}
	return rev.Config, head, nil
}

// Fleet assembles the fleet page.
func (m *ReadModel) Fleet(ctx context.Context) (*FleetView, error) {
	cfg, head, err := m.config(ctx)
	if err != nil {
		return nil, err
	}
	st, err := m.Store.Load(ctx)
	if err != nil {
		return nil, err
	}
	v := &FleetView{Cluster: cfg.Cluster.Name, Env: m.Env, Head: head, Applied: st.SHA, ReadAt: time.Now().UTC(), Hosts: []FleetHost{}}
	s := m.Agent.Status
	s.mu.Lock()
	rep, findings, last := s.drift, s.hosts, s.lastApply
	s.mu.Unlock()
	// The drift check's states hold until an apply comes after it (the
	// plan's states, updated by the apply, are newer then).
	driftState := rep != nil && (last == nil || rep.Checked.After(last.At))
	reports := map[string]drift.HostReport{}
	if rep != nil {
		v.DriftChecked = rep.Checked
		for _, h := range rep.Hosts {
			reports[h.Host] = h
		}
	}
	planned := map[string]reconcile.Finding{}
	for _, f := range findings {
		planned[f.Host] = f
	}
	beats := map[string]queue.Heartbeat{}
	if ws, err := m.Queue.Workers(ctx); err != nil {
		v.Problem = err.Error()
	} else {
		for _, w := range ws {
			beats[w.Host] = w
		}
	}
	for _, h := range cfg.Hosts.Values() {
		fh := FleetHost{Name: h.Name, Role: h.Role, Address: h.Address, Fleet: h.Fleet, Tags: h.Tags, State: string(drift.StateUnknown),
			Applied: st.Hosts[h.Name].SHA}
		if f, ok := planned[h.Name]; ok {
			fh.State, fh.Reason = string(f.State), f.Detail
		}
		if r, ok := reports[h.Name]; ok {
			fh.Running, fh.Findings, fh.Releases, fh.Facts = r.Current, r.Findings, r.Releases, r.Facts
			// A pending change from the plan wins over the check's state.
			if driftState && (fh.State != string(reconcile.StatePending) || r.State == drift.StateDrifted) {
				fh.State, fh.Reason = string(r.State), firstFinding(r.Findings)
			}
		}
		if hb, ok := beats[h.Name]; ok {
			fh.Worker = &hb
			fh.Running = hb.SHA // what the worker runs now, fresher than the last check
		}
		v.Hosts = append(v.Hosts, fh)
	}
	return v, nil
}

func firstFinding(fs []drift.Finding) string {
	for _, f := range fs {
		if f.Class != drift.ClassPending {
			return f.Detail
		}
	}
	if len(fs) > 0 {
		return fs[0].Detail
	}
	return ""
}

// HostView is a host's page: its line, its recent runs (running first,
// then finished, newest first).
type HostView struct {
	Host FleetHost          `json:"host"`
	Runs []dispatch.RunView `json:"runs"`
}

// Host assembles one host's page; ok is false when cl.yaml at the head
// has no such host.
func (m *ReadModel) Host(ctx context.Context, name string, runs int) (*HostView, bool, error) {
	f, err := m.Fleet(ctx)
	if err != nil {
		return nil, false, err
	}
	i := slices.IndexFunc(f.Hosts, func(h FleetHost) bool { return h.Name == name })
	if i < 0 {
		return nil, false, nil
	}
	v := &HostView{Host: f.Hosts[i], Runs: []dispatch.RunView{}}
	qs := []string{queue.HostQueue(name)}
	running, err := m.Queue.Running(ctx, qs...)
	if err != nil {
		return nil, true, err
	}
	fin, err := m.Queue.Finished(ctx, runs, qs...)
	if err != nil {
		return nil, true, err
	}
	for _, r := range append(running, fin...) {
		v.Runs = append(v.Runs, dispatch.View(r))
	}
	return v, true, nil
}

// AppliesView is the applies page.
type AppliesView struct {
	Pending   *reconcile.Plan             `json:"pending_plan"`
	PlanError string                      `json:"plan_error,omitempty"`
	Head      string                      `json:"head_sha"`
	Applied   string                      `json:"applied_sha"`
	History   []ApplyRecord               `json:"history"`
	Bad       map[string]reconcile.BadSHA `json:"bad_shas,omitempty"`
	Lock      string                      `json:"apply_lock,omitempty"` // who holds it now
	Commits   map[string]CommitView       `json:"commits"`
}

// CommitView is what the applies page says of a SHA.
type CommitView struct {
	SHA       string    `json:"sha"`
	Subject   string    `json:"subject"`
	Author    string    `json:"author"`
	Time      time.Time `json:"time"`
	Signature string    `json:"signature"` // unsigned | SSH-signed | PGP-signed (+ ", verified" under --require-signed)
}

// Applies assembles the applies page with the last n history records.
func (m *ReadModel) Applies(ctx context.Context, n int) (*AppliesView, error) {
	doc := m.Agent.Status.Doc(ctx, m.Store, nil)
	v := &AppliesView{Pending: doc.Pending, PlanError: doc.PlanError, Head: doc.Head, Applied: doc.Applied, Bad: doc.Bad,
		History: []ApplyRecord{}, Commits: map[string]CommitView{}}
	if doc.Lock != nil {
		v.Lock = doc.Lock.Command + " (" + short(doc.Lock.Version) + ")"
	}
	raw, err := m.Queue.Applies(ctx, n)
	if err != nil {
		return nil, err
	}
	v.History = decodeRecords(raw)
	shas := []string{v.Head, v.Applied}
	if v.Pending != nil {
		shas = append(shas, v.Pending.To)
	}
	for sha := range v.Bad {
		shas = append(shas, sha)
	}
	for _, r := range v.History {
		shas = append(shas, r.SHA)
	}
	for _, sha := range shas {
		if _, ok := v.Commits[sha]; ok || sha == "" {
			continue
		}
		if c, ok := m.Commit(ctx, sha); ok {
			v.Commits[sha] = c
		}
	}
	return v, nil
}

// Commit describes a fetched commit; ok is false when it cannot.
func (m *ReadModel) Commit(ctx context.Context, sha string) (CommitView, bool) {
	if m.Commits == nil {
		return CommitView{}, false
	}
	c, err := m.Commits.Commit(ctx, sha)
	if err != nil {
		return CommitView{}, false
	}
	subject, _, _ := strings.Cut(strings.TrimSpace(c.Message), "\n")
	v := CommitView{SHA: c.SHA, Subject: subject, Author: c.Author, Time: c.Time, Signature: "unsigned"}
	if sig, err := m.Commits.CommitSignature(ctx, sha); err == nil && sig.Signature != "" {
		v.Signature = "PGP-signed"
		if strings.Contains(sig.Signature, "SSH SIGNATURE") {
			v.Signature = "SSH-signed"
		}
		if m.Signed {
			v.Signature += ", verified before apply (--require-signed)"
		}
	}
	return v, true
}

// TasksView is the tasks page.
type TasksView struct {
	Status    *dispatch.Status   `json:"status"` // workers, queues, running runs, the beat
	Finished  []dispatch.RunView `json:"finished"`
	Schedules []ScheduleView     `json:"schedules"`
}

// ScheduleView is a schedule with its next fire, its last fire and the
// per-host results of that fire (from the runs it enqueued).
type ScheduleView struct {
	Name    string             `json:"name"`
	Cron    string             `json:"cron"`
	Task    string             `json:"task"`
	Enabled bool               `json:"enabled"`
	Next    time.Time          `json:"next,omitzero"`
	Last    *dispatch.BeatFire `json:"last,omitempty"`
	Results []dispatch.RunView `json:"results"`
}

// Tasks assembles the tasks page with the last n finished runs.
func (m *ReadModel) Tasks(ctx context.Context, n int) (*TasksView, error) {
	cfg, _, err := m.config(ctx)
	if err != nil {
		return nil, err
	}
	st, err := dispatch.Collect(ctx, cfg, m.Queue, dispatch.WithBeat(schedule.StatusOf(m.Queue)))
	if err != nil {
		return nil, err
	}
	queues := make([]string, len(st.Queues))
	for i, qs := range st.Queues {
		queues[i] = qs.Queue
	}
	fin, err := m.Queue.Finished(ctx, n, queues...)
	if err != nil {
		return nil, err
	}
	v := &TasksView{Status: st, Finished: []dispatch.RunView{}, Schedules: []ScheduleView{}}
	for _, r := range fin {
		v.Finished = append(v.Finished, dispatch.View(r))
	}
	bst, err := schedule.ReadStatus(ctx, m.Queue, 1)
	if err != nil {
		return nil, err
	}
	if bst.Published == nil { // nothing published yet: cl.yaml's schedules, never fired
		rows, err := schedule.Upcoming(cfg, time.Now(), 1)
		if err != nil {
			return nil, err
		}
		for _, row := range rows {
			sv := ScheduleView{Name: row.Name, Cron: row.Cron, Task: row.Task, Enabled: row.IsEnabled(), Results: []dispatch.RunView{}}
			if len(row.Next) > 0 {
				sv.Next = row.Next[0]
			}
			v.Schedules = append(v.Schedules, sv)
		}
		return v, nil
	}
	for _, ss := range bst.Schedules {
		sv := ScheduleView{Name: ss.Name, Cron: ss.Cron, Enabled: ss.Enabled, Results: []dispatch.RunView{}}
		if s, ok := cfg.Schedules.Get(ss.Name); ok {
			sv.Task = s.Task
		}
		if len(ss.Next) > 0 {
			sv.Next = ss.Next[0]
		}
		if f := ss.Last; f != nil {
			sv.Last = &dispatch.BeatFire{Schedule: f.Schedule, Tick: f.Tick, Beat: f.Beat, Hosts: f.Hosts, Enqueued: f.Enqueued,
				Duplicates: f.Duplicates, Errors: f.Errors, Error: f.Error}
			sv.Results = m.fireRuns(ctx, f.Runs)
		}
		v.Schedules = append(v.Schedules, sv)
	}
	return v, nil
}

// maxFireRuns caps the per-host results read for one fire.
const maxFireRuns = 200

// fireRuns reads the runs of one fire (host → run id), by host; a run
// whose record expired shows as state "expired".
func (m *ReadModel) fireRuns(ctx context.Context, runs map[string]string) []dispatch.RunView {
	out := []dispatch.RunView{}
	for _, h := range slices.Sorted(maps.Keys(runs)) {
		if len(out) == maxFireRuns {
			break
		}
		r, err := m.Queue.Get(ctx, runs[h])
		if err != nil || r == nil {
			r = &queue.Run{ID: runs[h], Target: queue.HostQueue(h), State: "expired"}
		}
		out = append(out, dispatch.RunView{Host: h, Run: r})
	}
	return out
}

// Run reads one run (nil when unknown or expired).
func (m *ReadModel) Run(ctx context.Context, id string) (*queue.Run, error) {
	r, err := m.Queue.Get(ctx, id)
	if errors.Is(err, queue.ErrNotFound) {
		return nil, nil
	}
	return r, err
}

// Logs reads a run's log lines after from, waiting up to block for new ones.
func (m *ReadModel) Logs(ctx context.Context, id, from string, block time.Duration) ([]queue.LogLine, string, error) {
	return m.Queue.Logs(ctx, id, from, block)
}

// WebhookDeliveries is the webhook ledger, newest first; ok is false when
// the agent takes no webhooks.
func (m *ReadModel) WebhookDeliveries() (ds []webhook.Delivery, ok bool) {
	if m.Deliveries == nil {
		return nil, false
	}
	return m.Deliveries(), true
}

// Summary is the header line: the repository, branch, head and applied
// SHAs and the last sync.
func (m *ReadModel) Summary(ctx context.Context) StatusDoc {
	return m.Agent.Status.Doc(ctx, m.Store, nil)
}
