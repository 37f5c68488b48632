package agent

import (
	"context"
	"strings"
	"testing"

	"github.com/celeroot/celeroot/audit"
	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/queue/queuetest"
)

// auditedAgent is newTestAgent with its applies recorded in a trail on
// another redis-server.
func auditedAgent(t *testing.T, failClosed bool) (*Agent, *source, *deployer, *audit.Trail, *queue.Queue) {
	t.Helper()
	a, src, _, d := newTestAgent(t)
	srv := queuetest.StartRedis(t)
	q, err := queue.Open(context.Background(), srv.URL(), queue.Namespace{Cluster: "t"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	trail := &audit.Trail{Store: q, Mirror: t.TempDir() + "/audit.jsonl"}
	deliveries := []string{"d-1"}
	a.Audit = &AuditOptions{Trail: trail, FailClosed: failClosed,
		Commit: func(_ context.Context, sha string) (string, string) {
			return "Ann <ann@example.org>", "Ci Bot"
		},
		Delivery: func() string {
			if len(deliveries) == 0 {
				return ""
			}
			id := deliveries[0]
			deliveries = deliveries[1:]
			return id
		}}
	return a, src, d, trail, q
}

func TestAgentAppliesAreAudited(t *testing.T) {
	ctx := context.Background()
	a, src, d, trail, _ := auditedAgent(t, false)
	src.head = sha('a')
	a.Sync(ctx) // applied
	src.head, d.fail = sha('b'), true
	a.Sync(ctx) // failed
	a.Sync(ctx) // within the backoff: no apply, no record
	recs, err := trail.Records(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("want 2 records (ok, failed), got %+v", recs)
	}
	ok, failed := recs[0], recs[1]
	if ok.Action != "agent.apply" || ok.SHA != sha('a') || ok.Result != audit.ResultOK || ok.Actor.Via != "agent" ||
		ok.Actor.Author != "Ann <ann@example.org>" || ok.Actor.Committer != "Ci Bot" || ok.Actor.Delivery != "d-1" ||
		!strings.Contains(strings.Join(ok.Targets, " "), "host:") {
		t.Errorf("record of the apply: %+v", ok)
	}
	if failed.SHA != sha('b') || failed.Result != audit.ResultFailed || failed.Actor.Delivery != "" {
		t.Errorf("record of the failed apply: %+v", failed)
	}
	if rep, err := trail.Verify(ctx); err != nil || !rep.OK() {
		t.Errorf("verify: %v %+v", err, rep)
	}
}

func TestAgentFailClosedRefusesUnauditedApply(t *testing.T) {
	ctx := context.Background()
	a, src, d, _, q := auditedAgent(t, true)
	q.Close() // the trail cannot be written
	src.head = sha('a')
	a.Sync(ctx)
	if st, _ := a.Planner.Store.Load(ctx); d.calls != 0 || st.SHA != "" {
		t.Fatalf("fail-closed agent applied without an audit record: %d deploys, applied %q", d.calls, st.SHA)
	}
}
