package queue_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/queue/queuetest"
)

func TestFleetQueue(t *testing.T) {
	for _, c := range []struct{ q, fleet, want string }{
		{"role:web", "", "role:web"},
		{"role:web", "green", "role:web@green"},
		{"host:web1", "green", "host:web1"},
	} {
		if got := queue.FleetQueue(c.q, c.fleet); got != c.want {
			t.Errorf("FleetQueue(%q, %q) = %q, want %q", c.q, c.fleet, got, c.want)
		}
	}
}

// A claim planned for one fleet generation is refused, recording nothing,
// once a switch moved the generation; a switch from a stale fleet is
// refused too.
func TestFleetSwitchFencesClaims(t *testing.T) {
	ctx := context.Background()
	q := queuetest.Opener(queuetest.StartMiniredis(t))(t)
	st, err := q.ActiveFleet(ctx)
	if err != nil || st.Active != "" || st.Gen != 0 {
		t.Fatalf("fresh state %+v, %v", st, err)
	}
	l, err := q.AcquireLease(ctx, queue.LeaseBeat, queue.LeaseInfo{ID: "b"}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	lease, _, _ := l.Token()
	bs := q.Beat()
	claim := func(tick int64, gen string) []string {
		t.Helper()
		c := queue.FireClaim{Key: bs.FireKey("s", tick), Schedule: "s", TickMS: tick, Fingerprint: "fp", Mode: "fire", Plan: "{}", TTL: time.Minute, FleetGen: gen}
		replies, errs, err := bs.Claim(ctx, lease, time.Now(), []queue.FireClaim{c})
		if err != nil || errs[0] != nil {
			t.Fatal(err, errs)
		}
		return replies[0]
	}
	if r := claim(1000, "0"); r[0] != "new" {
		t.Fatalf("claim at gen 0: %v", r)
	}
	if st, changed, err := q.SwitchFleet(ctx, "", "green", "me"); err != nil || !changed || st.Active != "green" || st.Gen != 1 || st.By != "me" {
		t.Fatalf("switch to green: %+v %v %v", st, changed, err)
	}
	if r := claim(2000, "0"); fmt.Sprint(r) != "[fleet 1]" {
		t.Fatalf("stale claim: %v, want [fleet 1]", r)
	}
	if state, _, err := bs.FireState(ctx, bs.FireKey("s", 2000)); err != nil || state != "" {
		t.Fatalf("refused claim left a fire record: %q %v", state, err)
	}
	if r := claim(2000, "1"); r[0] != "new" {
		t.Fatalf("claim at gen 1: %v", r)
	}
	if _, _, err := q.SwitchFleet(ctx, "blue", "blue", "me"); err == nil {
		t.Fatal("a switch from a fleet that is not active was accepted")
	}
	if _, changed, err := q.SwitchFleet(ctx, "green", "green", "me"); err != nil || changed {
		t.Fatalf("switch to the active fleet: changed=%v %v", changed, err)
	}
	st, _ = q.ActiveFleet(ctx)
	if st.Active != "green" || st.Previous != "" || st.Gen != 1 {
		t.Fatalf("state %+v", st)
	}
}

// DeleteQueues removes a fleet's queues and the runs in them, and nothing
// else.
func TestDeleteQueues(t *testing.T) {
	ctx := context.Background()
	q := queuetest.Opener(queuetest.StartMiniredis(t))(t)
	blue, green := queue.FleetQueue(queue.RoleQueue("web"), "blue"), queue.FleetQueue(queue.RoleQueue("web"), "green")
	var ids []string
	for _, target := range []string{blue, queue.HostQueue("blue1"), green} {
		id, _, err := q.Enqueue(ctx, &queue.Run{Task: "ping", Module: "builtin", Target: target}, "")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	n, err := q.DeleteQueues(ctx, []string{blue, queue.HostQueue("blue1")})
	if err != nil || n == 0 {
		t.Fatalf("deleted %d, %v", n, err)
	}
	for _, id := range ids[:2] {
		if _, err := q.Get(ctx, id); err == nil {
			t.Errorf("run %s of a deleted queue is still there", id)
		}
	}
	if _, err := q.Get(ctx, ids[2]); err != nil {
		t.Errorf("run on green: %v", err)
	}
	if _, err := q.DeleteQueues(ctx, []string{"bogus"}); err == nil {
		t.Error("a malformed queue name was accepted")
	}
}
