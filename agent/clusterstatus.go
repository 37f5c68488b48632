package agent

import (
	"context"
	"fmt"
	"github.com/celeroot/celeroot/fleet"
	"slices"
	"time"

	"github.com/celeroot/celeroot/dispatch"
	"github.com/celeroot/celeroot/drift"
	"github.com/celeroot/celeroot/queue"
)

// ClusterStatus is `cl cluster status`: the hosts (up, down, drifted),
// the workers and their slots, every configured queue's depth, the running
// tasks, who leads the beats and the agents, and the last apply. It is
// assembled from the existing read models: the drift report, dispatch's
// status, the leases and reconcile's applied state.
type ClusterStatus struct {
	Cluster string           `json:"cluster"`
	Hosts   []HostStatus     `json:"hosts"`
	Up      int              `json:"up"`
	Down    int              `json:"down"`
	Drifted int              `json:"drifted"`
	Tasks   *dispatch.Status `json:"tasks"` // workers, silent hosts, queues, running runs
	Beat    *queue.LeaseInfo `json:"beat_leader"`
	Agent   *queue.LeaseInfo `json:"agent"`
	Apply   *LastApply       `json:"last_apply"`
	Drift   *drift.Report    `json:"drift"`
	// Fleets are the blue-green fleets and the active one (nil without
	// fleets).
	Fleets *fleet.Report `json:"fleets,omitempty"`
	ReadAt time.Time     `json:"read_at"`
}

// HostStatus is one host's line.
type HostStatus struct {
	Host    string      `json:"host"`
	Role    string      `json:"role"`
	Up      bool        `json:"up"`
	State   drift.State `json:"state"`
	Reason  string      `json:"reason,omitempty"` // why down, or the first drift finding
	Worker  string      `json:"worker_sha,omitempty"`
	Slots   int         `json:"slots"`
	Busy    int         `json:"slots_busy"`
	Running bool        `json:"worker_running"`
}

// LastApply is the cluster's applied state: the SHA, its generation and
// time, and the last failed apply when it came after.
type LastApply struct {
	SHA        string    `json:"sha"`
	Generation int64     `json:"generation"`
	At         time.Time `json:"at"`
	Result     string    `json:"result"` // ok | failed | none
	Failed     string    `json:"failed_sha,omitempty"`
	FailedAt   time.Time `json:"failed_at,omitzero"`
	Error      string    `json:"error,omitempty"`
}

// SomethingDown reports whether a host is unreachable or its worker does
// not run (`cl cluster status` exits 1 then).
func (s *ClusterStatus) SomethingDown() bool {
	return slices.ContainsFunc(s.Hosts, func(h HostStatus) bool { return !h.Up || !h.Running })
}

// Status assembles the cluster status at the revision head.
func (d *DriftCheck) Status(ctx context.Context, head string) (*ClusterStatus, error) {
	rev, err := d.Revisions.Revision(ctx, head)
	if err != nil {
		return nil, err
	}
	rep, err := d.Check(ctx, head)
	if err != nil {
		return nil, err
	}
	q := d.Fleet.Queue
	tasks, err := dispatch.Collect(ctx, rev.Config, q)
	if err != nil {
		return nil, err
	}
	st := &ClusterStatus{Cluster: rev.Config.Cluster.Name, Hosts: []HostStatus{}, Tasks: tasks, Drift: rep, ReadAt: d.now()}
	if st.Beat, _, err = q.ReadLease(ctx, queue.LeaseBeat); err != nil {
		return nil, err
	}
	if st.Agent, _, err = q.ReadLease(ctx, queue.LeaseAgent); err != nil {
		return nil, err
	}
	if st.Fleets, err = fleet.Status(ctx, rev.Config, q); err != nil {
		return nil, err
	}
	if st.Fleets != nil && d.Store != nil {
		applied, err := d.Store.Load(ctx)
		if err != nil {
			return nil, err
		}
		for i := range st.Fleets.Fleets {
			f := &st.Fleets.Fleets[i]
			f.Applied = applied.SHA // a fleet-only apply (cl apply --cluster) records its own
			if fa, ok := applied.Fleets[f.Name]; ok {
				f.Applied, f.ApplyError = fa.SHA, fa.Error
			}
		}
	}
	beats := map[string]queue.Heartbeat{}
	for _, w := range tasks.Workers {
		beats[w.Host] = w
	}
	for _, h := range rep.Hosts {
		hs := HostStatus{Host: h.Host, Role: h.Role, Up: !unreachable(h), State: h.State, Running: true}
		if hb, ok := beats[h.Host]; ok {
			hs.Worker, hs.Slots, hs.Busy = hb.SHA, hb.Slots, hb.SlotsBusy
		}
		for _, f := range h.Findings {
			if f.Kind == drift.KindWorkerRunning {
				hs.Running = false
			}
			if hs.Reason == "" && f.Class != drift.ClassPending {
				hs.Reason = f.Detail
			}
		}
		if !hs.Up {
			hs.Running = false
			st.Down++
		} else {
			st.Up++
		}
		if h.State == drift.StateDrifted {
			st.Drifted++
		}
		st.Hosts = append(st.Hosts, hs)
	}
	applied, err := d.Store.Load(ctx)
	if err != nil {
		return nil, err
	}
	la := &LastApply{SHA: applied.SHA, Generation: applied.Generation, At: applied.Applied, Result: "none"}
	if applied.SHA != "" {
		la.Result = "ok"
	}
	for sha, b := range applied.Bad {
		if b.Last.After(la.At) && b.Last.After(la.FailedAt) {
			la.Result, la.Failed, la.FailedAt, la.Error = "failed", sha, b.Last, b.Error
		}
	}
	st.Apply = la
	return st, nil
}

func unreachable(h drift.HostReport) bool {
	return slices.ContainsFunc(h.Findings, func(f drift.Finding) bool { return f.Kind == drift.KindUnreachable })
}

// Summary is the status's first line.
func (s *ClusterStatus) Summary() string {
	return fmt.Sprintf("cluster %s: %d host(s) up, %d down, %d drifted; %d live worker(s)", s.Cluster, s.Up, s.Down, s.Drifted, len(s.Tasks.Workers))
}
