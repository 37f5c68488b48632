package agent

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/queue/queuetest"
	"github.com/celeroot/celeroot/reconcile"
)

// source is a branch whose head the test moves.
type source struct{ head string }

func (s *source) Fetch(context.Context) (string, error) { return s.head, nil }

// revisions serves the example fleet at any SHA but the invalid ones.
type revisions struct {
	cfg     *config.Config
	invalid map[string]bool
}

func (r *revisions) Revision(_ context.Context, sha string) (*reconcile.Revision, error) {
	if r.invalid[sha] {
		return nil, errors.New("cl.yaml:3:1: error: bogus")
	}
	return &reconcile.Revision{SHA: sha, Config: r.cfg, Files: []reconcile.File{{Path: "tasks/lib/x.sh", Digest: sha}}}, nil
}

// deployer fails every deploy while fail is set.
type deployer struct {
	fail  bool
	calls int
}

func (d *deployer) Deploy(_ context.Context, rev *reconcile.Revision, hosts []string) (map[string]reconcile.HostResult, error) {
	d.calls++
	out := map[string]reconcile.HostResult{}
	for _, h := range hosts {
		out[h] = reconcile.HostResult{OK: !d.fail, Error: map[bool]string{true: "health: no heartbeat"}[d.fail]}
	}
	if d.fail {
		return out, errors.New("deploy failed")
	}
	return out, nil
}

func (d *deployer) PublishSchedules(context.Context, *reconcile.Revision) error { return nil }

func newTestAgent(t *testing.T) (*Agent, *source, *revisions, *deployer) {
	t.Helper()
	srv := queuetest.StartRedis(t)
	q, err := queue.Open(context.Background(), srv.URL(), queue.Namespace{Cluster: "t"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	cfg, _, err := config.LoadValid(config.Options{Path: "../examples/fleet/cl.yaml", Env: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	src, revs, d := &source{}, &revisions{cfg: cfg, invalid: map[string]bool{}}, &deployer{}
	store := reconcile.DocStore{Docs: q}
	a := &Agent{Source: src, Planner: &Planner{Revisions: revs, Store: store},
		Applier: &reconcile.Applier{Store: store, Deployer: d, Publisher: d},
		Lock:    func(ctx context.Context, _ string, fn func(context.Context) error) error { return fn(ctx) },
		Opts:    Options{AutoApply: true}, Status: NewStatus("repo", "main"), Metrics: NewMetrics()}
	return a, src, revs, d
}

func sha(c byte) string { return strings.Repeat(string(c), 40) }

func TestSyncAppliesNewCommitsOnly(t *testing.T) {
	ctx := context.Background()
	a, src, revs, d := newTestAgent(t)
	src.head = sha('a')
	a.Sync(ctx)
	st, _ := a.Planner.Store.Load(ctx)
	if st.SHA != sha('a') || d.calls != 1 {
		t.Fatalf("after the first sync: applied %q, %d deploys", st.SHA, d.calls)
	}
	a.Sync(ctx) // no new head: nothing planned, nothing deployed
	if d.calls != 1 {
		t.Errorf("a poll with no new head deployed (%d calls)", d.calls)
	}
	// An invalid commit is reported and not applied; the next one is.
	src.head, revs.invalid[sha('b')] = sha('b'), true
	a.Sync(ctx)
	doc := a.Status.Doc(ctx, a.Planner.Store, nil)
	if doc.Applied != sha('a') || !strings.Contains(doc.PlanError, "cl.yaml:3:1") || d.calls != 1 {
		t.Errorf("invalid commit: applied %s, plan error %q, %d deploys", doc.Applied, doc.PlanError, d.calls)
	}
	src.head = sha('c')
	a.Sync(ctx)
	if doc := a.Status.Doc(ctx, a.Planner.Store, nil); doc.Applied != sha('c') || doc.PlanError != "" {
		t.Errorf("the next good commit: applied %s, plan error %q", doc.Applied, doc.PlanError)
	}
}

func TestFailedCommitBacksOffButNeverBlocksANewer(t *testing.T) {
	ctx := context.Background()
	a, src, _, d := newTestAgent(t)
	src.head, d.fail = sha('a'), true
	a.Sync(ctx)
	st, _ := a.Planner.Store.Load(ctx)
	if st.Bad[sha('a')].Attempts != 1 || st.SHA != "" {
		t.Fatalf("failed apply: state %+v", st)
	}
	a.Sync(ctx) // within the 2 s backoff: not retried
	if d.calls != 1 {
		t.Errorf("retried within the backoff: %d deploys", d.calls)
	}
	if wait := time.Until(a.wake); wait <= 0 || wait > 2*time.Second {
		t.Errorf("the agent wakes in %s for the retry, want within the 2 s backoff", wait)
	}
	time.Sleep(time.Until(a.wake))
	a.Sync(ctx) // the backoff is over: retried (and fails again)
	if st, _ := a.Planner.Store.Load(ctx); d.calls != 2 || st.Bad[sha('a')].Attempts != 2 {
		t.Errorf("after the backoff: %d deploys, %d attempts; want a retry", d.calls, st.Bad[sha('a')].Attempts)
	}
	src.head, d.fail = sha('b'), false // a newer commit goes ahead at once
	a.Sync(ctx)
	st, _ = a.Planner.Store.Load(ctx)
	if st.SHA != sha('b') || d.calls != 3 {
		t.Errorf("newer commit after a bad one: applied %q, %d deploys", st.SHA, d.calls)
	}
}

func TestStatusAndMetricsEndpoints(t *testing.T) {
	ctx := context.Background()
	a, src, _, _ := newTestAgent(t)
	src.head = sha('a')
	a.Sync(ctx)
	srv := httptest.NewServer(Handler(a, a.Planner.Store, nil, nil, nil))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	var doc StatusDoc
	err = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if err != nil || doc.Applied != sha('a') || doc.Generation != 1 || doc.LastApply == nil || doc.LastApply.Result != "ok" {
		t.Errorf("status: %v %+v", err, doc)
	}
	if p := doc.LastPlan; p == nil || p.SHA != sha('a') || p.Result != "ok" || p.Duration == "" {
		t.Errorf("status: last_plan %+v, want the plan of %s", p, sha('a'))
	}
	resp, err = http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	buf := make([]byte, 1<<16)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	resp.Body.Close()
	for _, want := range []string{`cl_agent_applies_total{result="ok"} 1`, `cl_agent_syncs_total{result="ok"} 1`, `cl_agent_plans_total{result="changes"} 1`,
		`cl_agent_plan_duration_seconds_count 1`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestTriggerCoalesces(t *testing.T) {
	a := &Agent{}
	if a.Trigger() || !a.Trigger() {
		t.Error("the second trigger while one is pending should coalesce")
	}
	if d := jitter(time.Minute); d < 54*time.Second || d > 66*time.Second {
		t.Errorf("jitter(1m) = %s, want within ±10%%", d)
	}
	for url, want := range map[string]bool{"/srv/fleet": true, "file:///srv/fleet": true, "git://h/x.git": false, "git@github.com:a/b.git": false, "fleet": true} {
		if _, ok := localPath(url); ok != want {
			t.Errorf("localPath(%q) = %v, want %v", url, ok, want)
		}
	}
}
