package agent

import (
	"context"
	"testing"

	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/reconcile"
)

// TestReadModelHistorySurvivesRestart: applies (one ok, one failed) are
// kept in Redis; a new agent (a restart: fresh in-memory status) reads the
// same history, newest first, with per-host outcomes and the bad SHA.
func TestReadModelHistorySurvivesRestart(t *testing.T) {
	ctx := context.Background()
	a, src, revs, d := newTestAgent(t)
	q := a.Planner.Store.(reconcile.DocStore).Docs.(*queue.Queue)
	a.History = q
	src.head = sha('a')
	a.Sync(ctx)
	d.fail = true
	src.head = sha('b')
	a.Sync(ctx)

	b, _, _, _ := newTestAgent(t)
	b.Status, b.Planner.Store = NewStatus("repo", "main"), a.Planner.Store
	rm := &ReadModel{Agent: b, Store: b.Planner.Store, Queue: q, Revisions: revs}
	v, err := rm.Applies(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.History) != 2 {
		t.Fatalf("history after a restart: %d records, want 2: %+v", len(v.History), v.History)
	}
	failed, ok := v.History[0], v.History[1]
	if failed.SHA != sha('b') || failed.Result != "error" || !failed.Bad || len(failed.Actions) == 0 || failed.From != sha('a') {
		t.Errorf("newest record: %+v", failed)
	}
	for h, r := range failed.Hosts {
		if r.OK || r.Error == "" {
			t.Errorf("failed apply, host %s: %+v", h, r)
		}
	}
	if ok.SHA != sha('a') || ok.Result != "ok" || ok.Bad || ok.ID == "" || len(ok.Hosts) == 0 || ok.Duration <= 0 {
		t.Errorf("first record: %+v", ok)
	}
	if _, bad := v.Bad[sha('b')]; !bad || v.Applied != sha('a') {
		t.Errorf("applies view: applied %s, bad %v", v.Applied, v.Bad)
	}
}

// TestReadModelFleet: every host of cl.yaml at the head, its state from
// the plan, the running SHA from its worker's heartbeat; silent hosts
// have no worker.
func TestReadModelFleet(t *testing.T) {
	ctx := context.Background()
	a, src, revs, _ := newTestAgent(t)
	q := a.Planner.Store.(reconcile.DocStore).Docs.(*queue.Queue)
	src.head = sha('a')
	a.Sync(ctx)
	if err := q.Heartbeat(ctx, queue.Heartbeat{Host: "webserver01", Role: "webserver", SHA: sha('a'), Slots: 4, SlotsBusy: 1}); err != nil {
		t.Fatal(err)
	}
	rm := &ReadModel{Agent: a, Store: a.Planner.Store, Queue: q, Revisions: revs}
	v, err := rm.Fleet(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v.Head != sha('a') || v.Applied != sha('a') || len(v.Hosts) != revs.cfg.Hosts.Len() {
		t.Fatalf("fleet: head %s applied %s, %d hosts", v.Head, v.Applied, len(v.Hosts))
	}
	for _, h := range v.Hosts {
		switch {
		case h.Name == "webserver01" && (h.Worker == nil || h.Running != sha('a') || h.Worker.Slots != 4):
			t.Errorf("webserver01: %+v", h)
		case h.Name != "webserver01" && h.Worker != nil:
			t.Errorf("%s has a worker: %+v", h.Name, h.Worker)
		case h.State != "in-sync" || h.Applied != sha('a') || h.Role == "":
			t.Errorf("%s: state %s, applied %s, role %q", h.Name, h.State, h.Applied, h.Role)
		}
	}
	if _, ok, err := rm.Host(ctx, "nope", 10); ok || err != nil {
		t.Errorf("Host(nope) = %v, %v", ok, err)
	}
	hv, ok, err := rm.Host(ctx, "webserver01", 10)
	if !ok || err != nil || hv.Host.Name != "webserver01" || hv.Runs == nil {
		t.Errorf("Host(webserver01) = %+v, %v, %v", hv, ok, err)
	}
}
