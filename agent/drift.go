package agent

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/deploy"
	"github.com/celeroot/celeroot/drift"
	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/reconcile"
)

// DriftCheck is the use-case of `cl cluster drift`, `cl cluster reconcile`
// and the agent's self-heal: observe every host (with the manifest check),
// compare it with what was applied to it (the Store) and what HEAD wants,
// and repair the drifted hosts by redeploying what was applied to them.
type DriftCheck struct {
	Revisions Revisions
	Store     reconcile.Store
	Fleet     *Fleet
	Now       func() time.Time
}

// Check reports the drift of the cluster against the revision head.
func (d *DriftCheck) Check(ctx context.Context, head string) (*drift.Report, error) {
	rev, err := d.Revisions.Revision(ctx, head)
	if err != nil {
		return nil, err
	}
	st, err := d.Store.Load(ctx)
	if err != nil {
		return nil, err
	}
	cfg := rev.Config
	obs, err := d.Fleet.ObserveHosts(ctx, cfg)
	if err != nil {
		return nil, err
	}
	workers, err := d.Fleet.Queue.Workers(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the workers' heartbeats: %w", err)
	}
	revs := map[string]*reconcile.Revision{head: rev}
	for _, sha := range earlier(st, nil) {
		if r, err := d.Revisions.Revision(ctx, sha); err == nil {
			revs[sha] = r
		}
	}
	pending := d.pending(rev, st, revs, obs)
	in := drift.Input{Desired: head, Applied: st.SHA, Observed: map[string]drift.Observation{}, Now: d.now()}
	if workers == nil {
		workers = []queue.Heartbeat{}
	}
	in.Workers = workers
	for _, o := range obs {
		in.Observed[o.Host] = o
	}
	for _, h := range cfg.Hosts.Values() {
		des := drift.Desired{Host: h.Name, Role: h.Role, AssessOnly: h.AssessOnly, Pending: pending[h.Name]}
		if ha, ok := st.Hosts[h.Name]; ok {
			des.Applied = ha.SHA
			if r := revs[ha.SHA]; r != nil {
				if ah, ok := r.Config.Hosts.Get(h.Name); ok {
					des.AppliedRole = ah.Role
				}
			}
		}
		in.Hosts = append(in.Hosts, des)
	}
	return drift.Compare(in), nil
}

// pending describes, per host, the intended change between what was
// applied to it and rev (reconcile's plan, without the drift checks).
func (d *DriftCheck) pending(rev *reconcile.Revision, st reconcile.State, revs map[string]*reconcile.Revision, obs []drift.Observation) map[string]string {
	// Hosts never applied are compared with what they run (cl host deploy).
	observed := map[string]reconcile.Observation{}
	for _, o := range obs {
		if _, applied := st.Hosts[o.Host]; !applied && o.Reachable {
			observed[o.Host] = reconcile.Observation{Reachable: true, Current: o.Current, Worker: drift.WorkerNoSource}
		}
	}
	p := reconcile.Build(reconcile.Input{To: rev, State: st, Revisions: revs, Observed: observed, Now: d.now()})
	out := map[string]string{}
	for _, f := range p.Hosts {
		if f.State == reconcile.StatePending {
			out[f.Host] = f.Detail
		}
	}
	return out
}

// Repair is what a drift repair did.
type Repair struct {
	// Hosts are the repaired hosts' results, by host; SHA the release each
	// was put back on.
	Hosts map[string]reconcile.HostResult `json:"hosts"`
	SHA   map[string]string               `json:"sha"`
	// Left are drifted hosts not repaired, with why (assess-only, no
	// release to go back to).
	Left     map[string]string `json:"left,omitempty"`
	Started  time.Time         `json:"started"`
	Duration time.Duration     `json:"duration_ns"`
}

// OK reports whether every repaired host came back healthy.
func (r *Repair) OK() bool {
	for _, h := range r.Hosts {
		if !h.OK {
			return false
		}
	}
	return true
}

// Failed lists the hosts whose repair failed, sorted.
func (r *Repair) Failed() []string {
	var out []string
	for h, res := range r.Hosts {
		if !res.OK {
			out = append(out, h)
		}
	}
	sort.Strings(out)
	return out
}

// Planned lists what a repair of rep would do: host → the SHA it is put
// back on; and the drifted hosts left alone, with why.
func Planned(rep *drift.Report) (repair map[string]string, left map[string]string) {
	repair, left = map[string]string{}, map[string]string{}
	for _, h := range rep.Hosts {
		switch {
		case h.State != drift.StateDrifted:
		case h.AssessOnly:
			left[h.Host] = "assess-only"
		case h.Baseline() == "":
			left[h.Host] = "no release to go back to (never applied, nothing committed running)"
		default:
			repair[h.Host] = h.Baseline()
		}
	}
	return repair, left
}

// Repair redeploys each repairable host of rep with the release applied to
// it (the whole release is sent again and the worker restarted), and
// records the hosts' results without moving the cluster's applied SHA. The
// caller holds the apply lock.
func (d *DriftCheck) Repair(ctx context.Context, rep *drift.Report) (*Repair, error) {
	start := d.now()
	todo, left := Planned(rep)
	res := &Repair{Hosts: map[string]reconcile.HostResult{}, SHA: todo, Left: left, Started: start}
	bySHA := map[string][]string{}
	for h, sha := range todo {
		bySHA[sha] = append(bySHA[sha], h)
	}
	shas := make([]string, 0, len(bySHA))
	for sha := range bySHA {
		shas = append(shas, sha)
	}
	sort.Strings(shas)
	for _, sha := range shas {
		hosts := bySHA[sha]
		sort.Strings(hosts)
		got, err := d.repairAt(ctx, sha, hosts)
		for _, h := range hosts {
			r, ok := got[h]
			if !ok {
				r = reconcile.HostResult{Error: "not repaired"}
				if err != nil {
					r.Error = err.Error()
				}
			}
			res.Hosts[h] = r
		}
	}
	res.Duration = d.now().Sub(start)
	if len(res.Hosts) == 0 {
		return res, nil
	}
	o := reconcile.Outcome{Repair: true, Hosts: map[string]reconcile.HostApplied{}, At: d.now()}
	for h, r := range res.Hosts {
		o.Hosts[h] = reconcile.HostApplied{SHA: todo[h], OK: r.OK, Error: r.Error, Applied: o.At}
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := d.Store.Record(rctx, o); err != nil {
		return res, fmt.Errorf("record the repair: %w", err)
	}
	return res, nil
}

func (d *DriftCheck) repairAt(ctx context.Context, sha string, hosts []string) (map[string]reconcile.HostResult, error) {
	rev, err := d.Revisions.Revision(ctx, sha)
	if err != nil {
		return nil, fmt.Errorf("read %s, the release to repair to: %w", short(sha), err)
	}
	return d.Fleet.deploy(ctx, rev, hosts, true)
}

func (d *DriftCheck) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now().UTC()
}

// ObserveHosts observes every host of cfg as the drift check needs: the
// release `current` points to, checked against its manifest, the worker's
// unit and heartbeat.
func (f *Fleet) ObserveHosts(ctx context.Context, cfg *config.Config) ([]drift.Observation, error) {
	hosts, err := f.opener(cfg)
	if err != nil {
		return nil, err
	}
	return drift.Observe(ctx, hosts, cfg.Hosts.Values(), drift.ObserveOptions{TargetDir: cfg.Deployment.TargetDirectory,
		Heartbeats: f.Queue, Parallel: f.Parallel, Service: cfg.Deployment.ServiceName, SupervisorDir: deploy.StateDir, Verify: true, Facts: true,
		IgnoreAdded: len(cfg.Deployment.SetupCommand) > 0,
		Timeout:     cfg.SSH.Timeout.D() + time.Minute}), nil
}

// repairError says which hosts a repair failed on.
type repairError struct{ hosts []string }

func (e *repairError) Error() string {
	return "repair failed on " + strings.Join(e.hosts, ", ")
}

func errRepairFailed(r *Repair) error { return &repairError{hosts: r.Failed()} }
