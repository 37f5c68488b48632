package reconcile_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/queue/queuetest"
	"github.com/celeroot/celeroot/reconcile"
)

// deployer records what it was asked to deploy and fails the hosts in fail.
type deployer struct {
	mu    sync.Mutex
	calls [][]string
	fail  map[string]string
}

func (d *deployer) Deploy(_ context.Context, rev *reconcile.Revision, hosts []string) (map[string]reconcile.HostResult, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, hosts)
	out := map[string]reconcile.HostResult{}
	var err error
	for _, h := range hosts {
		if msg, ok := d.fail[h]; ok {
			out[h] = reconcile.HostResult{Error: msg}
			err = errors.New("deploy failed")
			continue
		}
		out[h] = reconcile.HostResult{OK: true}
	}
	return out, err
}

type publisher struct{ shas []string }

func (p *publisher) PublishSchedules(_ context.Context, rev *reconcile.Revision) error {
	p.shas = append(p.shas, rev.SHA)
	return nil
}

func openStore(t *testing.T) reconcile.DocStore {
	t.Helper()
	srv := queuetest.StartRedis(t)
	q, err := queue.Open(context.Background(), srv.URL(), queue.Namespace{Cluster: "t"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return reconcile.DocStore{Docs: q}
}

func revision(t *testing.T, sha string) *reconcile.Revision {
	t.Helper()
	cfg, _, err := config.LoadValid(config.Options{Path: "../examples/fleet/cl.yaml", Env: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	return &reconcile.Revision{SHA: sha, Config: cfg, Files: []reconcile.File{{Path: "tasks/lib/x.sh", Digest: sha}}}
}

func plan(t *testing.T, store reconcile.Store, rev *reconcile.Revision, revs ...*reconcile.Revision) *reconcile.Plan {
	t.Helper()
	st, err := store.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	in := reconcile.Input{To: rev, State: st, Revisions: map[string]*reconcile.Revision{}, ID: "plan-" + rev.SHA[:4]}
	for _, r := range revs {
		in.Revisions[r.SHA] = r
	}
	return reconcile.Build(in)
}

func TestApplyRecordsAndRefusesStalePlans(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	d, pub := &deployer{}, &publisher{}
	ap := &reconcile.Applier{Store: store, Deployer: d, Publisher: pub}
	a := revision(t, strings.Repeat("a", 40))
	p := plan(t, store, a)
	res, err := ap.Apply(ctx, p, a)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if !res.OK || res.State.Generation != 1 || res.State.SHA != a.SHA || !res.Reloaded || len(d.calls) != 1 || len(d.calls[0]) != 3 {
		t.Fatalf("first apply: %+v, deploy calls %v", res, d.calls)
	}
	if got, want := res.Summary(), "applied aaaaaaaaaaaa (generation 1); 3 of 3 host(s) deployed; scheduler reloaded"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	if err := reconcile.UseSaved(ctx, store, p); !errors.Is(err, reconcile.ErrStale) {
		t.Errorf("saved plan of the applied generation: %v, want ErrStale", err)
	}
	if _, err := ap.Apply(ctx, p, a); !errors.Is(err, reconcile.ErrStale) {
		t.Fatalf("second apply of the same plan: %v, want ErrStale", err)
	}

	// A host failing its health check marks the SHA bad and keeps the
	// cluster at the applied SHA; the host is retried next time.
	b := revision(t, strings.Repeat("b", 40))
	d.fail = map[string]string{"webserver02": "health: no heartbeat from the new worker"}
	pb := plan(t, store, b, a)
	res, err = ap.Apply(ctx, pb, b)
	if !errors.Is(err, reconcile.ErrApplyFailed) || res.OK {
		t.Fatalf("apply with a failing host: %v %+v", err, res)
	}
	if got := res.Summary(); !strings.HasPrefix(got, "FAILED bbbbbbbbbbbb: ") || !strings.Contains(got, "2 of 3 host(s) deployed") {
		t.Errorf("summary of a failed apply: %q", got)
	}
	st, err := store.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.SHA != a.SHA || st.Generation != 1 || st.Bad[b.SHA].Attempts != 1 || st.Hosts["webserver02"].OK || st.Hosts["webserver02"].SHA != a.SHA || st.Hosts["webserver01"].SHA != b.SHA {
		t.Fatalf("state after a failed apply: %+v", st)
	}
	if len(pub.shas) != 1 {
		t.Errorf("schedules published after a failed deploy: %v", pub.shas)
	}
	d.fail = nil
	retry := plan(t, store, b, a)
	if err := reconcile.UseSaved(ctx, store, retry); err != nil {
		t.Fatalf("fresh saved plan: %v", err)
	}
	if err := reconcile.UseSaved(ctx, store, retry); err == nil || !strings.Contains(err.Error(), "single-use") {
		t.Errorf("saved plan used twice: %v", err)
	}
	if got := retry.Deploys(); len(got) != 1 || got[0] != "webserver02" {
		t.Errorf("retry plan deploys %v, want only webserver02 (the others got %s)", got, b.SHA[:7])
	}
	res, err = ap.Apply(ctx, retry, b)
	if err != nil || res.State.SHA != b.SHA || res.State.Generation != 2 || len(res.State.Bad) != 0 {
		t.Fatalf("retry: %v %+v", err, res.State)
	}
}

func TestConcurrentAppliesOneWins(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	a := revision(t, strings.Repeat("a", 40))
	p := plan(t, store, a)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			ap := &reconcile.Applier{Store: store, Deployer: &deployer{}, Publisher: &publisher{}}
			_, errs[i] = ap.Apply(ctx, p, a)
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, reconcile.ErrStale):
			t.Errorf("apply: %v", err)
		}
	}
	st, _ := store.Load(ctx)
	if ok != 1 || st.Generation != 1 {
		t.Errorf("%d applies recorded, generation %d: want exactly one", ok, st.Generation)
	}
}

func TestPlansAreSingleUse(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	first, err := store.UsePlan(ctx, "p1")
	if err != nil || !first {
		t.Fatalf("first use: %v %v", first, err)
	}
	again, err := store.UsePlan(ctx, "p1")
	if err != nil || again {
		t.Fatalf("second use accepted: %v %v", again, err)
	}
	st1, _ := store.Load(ctx)
	st2, _ := store.Load(ctx)
	if st1.ClusterID == "" || st1.ClusterID != st2.ClusterID {
		t.Errorf("cluster id %q then %q: want one stable id", st1.ClusterID, st2.ClusterID)
	}
}

func TestRecordRepairKeepsTheAppliedSHA(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	a := &reconcile.Applier{Store: store, Deployer: &deployer{}, Publisher: &publisher{}}
	revA := revision(t, strings.Repeat("a", 40))
	if _, err := a.Apply(ctx, plan(t, store, revA), revA); err != nil {
		t.Fatal(err)
	}
	before, _ := store.Load(ctx)
	after, err := store.Record(ctx, reconcile.Outcome{Repair: true, Expect: 999,
		Hosts: map[string]reconcile.HostApplied{"webserver01": {SHA: revA.SHA, OK: false, Error: "repair failed"}}})
	if err != nil {
		t.Fatal(err)
	}
	if after.SHA != before.SHA || after.Generation != before.Generation || len(after.Bad) != 0 {
		t.Errorf("a repair moved the cluster: before %s/%d, after %s/%d bad %v", before.SHA, before.Generation, after.SHA, after.Generation, after.Bad)
	}
	if h := after.Hosts["webserver01"]; h.OK || h.Error != "repair failed" {
		t.Errorf("host record %+v", h)
	}
}

// A drift-only plan (cl plan --drift-only --out F; cl apply F) repairs the
// drifted hosts and records their outcomes, but an intended change of the
// revision is not applied by it: the cluster's SHA and generation stay, and
// a failed repair marks no SHA bad.
func TestDriftOnlyApplyKeepsTheAppliedSHA(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	d, pub := &deployer{}, &publisher{}
	ap := &reconcile.Applier{Store: store, Deployer: d, Publisher: pub}
	revA := revision(t, strings.Repeat("a", 40))
	if _, err := ap.Apply(ctx, plan(t, store, revA), revA); err != nil {
		t.Fatal(err)
	}
	revB := revision(t, strings.Repeat("b", 40))
	driftPlan := func() *reconcile.Plan {
		st, err := store.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		obs := map[string]reconcile.Observation{}
		for _, h := range revA.Config.Hosts.Keys() {
			obs[h] = reconcile.Observation{Reachable: true, Current: revA.SHA, Worker: revA.SHA}
		}
		obs["dbserver01"] = reconcile.Observation{Reachable: true}
		p := reconcile.Build(reconcile.Input{To: revB, State: st, DriftOnly: true, Observed: obs, ID: "drift",
			Revisions: map[string]*reconcile.Revision{revA.SHA: revA, revB.SHA: revB}})
		if got := p.Deploys(); len(got) != 1 || got[0] != "dbserver01" || !p.DriftOnly {
			t.Fatalf("drift-only plan: %+v", p)
		}
		return p
	}
	res, err := ap.Apply(ctx, driftPlan(), revB)
	if err != nil || !res.OK {
		t.Fatalf("drift-only apply: %v %+v", err, res)
	}
	st, err := store.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.SHA != revA.SHA || st.Generation != 1 {
		t.Errorf("a drift-only apply moved the cluster to %s generation %d, want %s generation 1", st.SHA[:7], st.Generation, revA.SHA[:7])
	}
	if h := st.Hosts["dbserver01"]; !h.OK || h.SHA != revB.SHA {
		t.Errorf("repaired host recorded as %+v", h)
	}
	if res.State.Generation != 1 || !strings.HasPrefix(res.Summary(), "repaired drift") {
		t.Errorf("result: generation %d, summary %q", res.State.Generation, res.Summary())
	}
	if len(pub.shas) != 1 {
		t.Errorf("a drift-only apply published schedules: %v", pub.shas)
	}
	// A failed repair: recorded on the host, no bad SHA, cluster unmoved.
	d.fail = map[string]string{"dbserver01": "health: no heartbeat"}
	_, err = ap.Apply(ctx, driftPlan(), revB)
	if !errors.Is(err, reconcile.ErrApplyFailed) {
		t.Fatalf("failed repair: %v", err)
	}
	st, _ = store.Load(ctx)
	if st.SHA != revA.SHA || st.Generation != 1 || len(st.Bad) != 0 || st.Hosts["dbserver01"].OK {
		t.Errorf("state after a failed drift-only apply: %+v", st)
	}
}

// fleetRevision is the example fleet with webserver01 in fleet blue and the
// other hosts in green.
func fleetRevision(t *testing.T, sha string) *reconcile.Revision {
	t.Helper()
	b, err := os.ReadFile("../examples/fleet/cl.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "    address: 10.0.1.10\n", "    address: 10.0.1.10\n    fleet: blue\n", 1)
	s = strings.Replace(s, "    role: webserver\n    address: 10.0.1.11\n", "    role: webserver\n    address: 10.0.1.11\n    fleet: green\n", 1)
	s = strings.Replace(s, "    role: database\n", "    role: database\n    fleet: green\n", 1)
	cfg, _, err := config.LoadValid(config.Options{Path: "../examples/fleet/cl.yaml", Env: "dev", Content: []byte(s)})
	if err != nil {
		t.Fatal(err)
	}
	return &reconcile.Revision{SHA: sha, Config: cfg, Files: []reconcile.File{{Path: "tasks/lib/x.sh", Digest: sha}}}
}

// A fleet-only apply deploys its fleet's hosts, never publishes schedules,
// records the fleet's SHA and leaves the cluster's SHA and generation; the
// next full apply moves the cluster and clears the fleets' SHAs.
func TestFleetOnlyApplyKeepsTheClusterSHA(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	d, pub := &deployer{}, &publisher{}
	ap := &reconcile.Applier{Store: store, Deployer: d, Publisher: pub}
	a := fleetRevision(t, strings.Repeat("a", 40))
	if _, err := ap.Apply(ctx, plan(t, store, a), a); err != nil {
		t.Fatal(err)
	}
	b := fleetRevision(t, strings.Repeat("b", 40))
	st, _ := store.Load(ctx)
	p := reconcile.Build(reconcile.Input{To: b, State: st, Revisions: map[string]*reconcile.Revision{a.SHA: a}, ID: "green-b", Fleet: "green"})
	if got := strings.Join(p.Deploys(), ","); got != "webserver02,dbserver01" || p.ReloadsScheduler() {
		t.Fatalf("fleet plan deploys %q, reloads %v", got, p.ReloadsScheduler())
	}
	res, err := ap.Apply(ctx, p, b)
	if err != nil {
		t.Fatalf("fleet apply: %v", err)
	}
	if res.Reloaded || len(pub.shas) != 1 {
		t.Errorf("a fleet-only apply published schedules: %v", pub.shas)
	}
	if got := res.Summary(); !strings.HasPrefix(got, "applied bbbbbbbbbbbb to fleet green (the cluster stays at aaaaaaa, generation 1; scheduler not reloaded)") {
		t.Errorf("summary %q", got)
	}
	st, _ = store.Load(ctx)
	if st.SHA != a.SHA || st.Generation != 1 || st.Fleets["green"].SHA != b.SHA || !st.Fleets["green"].OK ||
		st.Hosts["webserver02"].SHA != b.SHA || st.Hosts["webserver01"].SHA != a.SHA {
		t.Fatalf("state after the fleet apply: %+v", st)
	}
	// A failing fleet apply marks the fleet, not the SHA, bad.
	c := fleetRevision(t, strings.Repeat("c", 40))
	d.fail = map[string]string{"dbserver01": "health: no heartbeat"}
	p = reconcile.Build(reconcile.Input{To: c, State: st, Revisions: map[string]*reconcile.Revision{a.SHA: a, b.SHA: b}, ID: "green-c", Fleet: "green"})
	if _, err := ap.Apply(ctx, p, c); !errors.Is(err, reconcile.ErrApplyFailed) {
		t.Fatalf("failing fleet apply: %v", err)
	}
	st, _ = store.Load(ctx)
	if f := st.Fleets["green"]; f.SHA != b.SHA || f.OK || !strings.Contains(f.Error, "dbserver01") || len(st.Bad) != 0 || st.Generation != 1 {
		t.Fatalf("state after a failed fleet apply: fleets %+v, bad %v, generation %d", st.Fleets, st.Bad, st.Generation)
	}
	d.fail = nil
	res, err = ap.Apply(ctx, plan(t, store, c, a, b), c)
	if err != nil || res.State.SHA != c.SHA || res.State.Generation != 2 || res.State.Fleets != nil || !res.Reloaded {
		t.Fatalf("full apply after fleet applies: %v %+v", err, res.State)
	}
}
