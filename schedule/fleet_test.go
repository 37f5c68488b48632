package schedule_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/queue/queuetest"
	"github.com/celeroot/celeroot/schedule"
)

// TestBeatFleetSwitchNoDoubleNoLoss switches the active fleet between blue
// and green every few tens of milliseconds while two beats fire ten
// every-second schedules: every tick of every schedule must be fired exactly
// once, on exactly one fleet (both of its hosts, none of the other's), and
// after the last switch only on the fleet it made active.
func TestBeatFleetSwitchNoDoubleNoLoss(t *testing.T) {
	q := redisQueue(t)(t)
	ctx := context.Background()
	fleets := map[string][]string{"blue": {"blue1", "blue2"}, "green": {"green1", "green2"}}
	var names []string
	for i := range 10 {
		names = append(names, fmt.Sprintf("s%d", i))
	}
	set := testSet(nil, names...)
	for _, f := range []string{"blue", "green"} {
		for _, h := range fleets[f] {
			set.Hosts = append(set.Hosts, schedule.Host{Name: h, Role: "web", Fleet: f})
		}
	}
	a, _ := startBeat(t, q, set, schedule.Options{ID: "a"})
	waitRole(t, a, schedule.RoleLeader, 3*time.Second)
	startBeat(t, q, set, schedule.Options{ID: "b"})

	start := time.Now().Unix() + 1
	active, switches := "", 0
	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) {
		to := map[string]string{"": "green", "blue": "green", "green": "blue"}[active]
		st, changed, err := q.SwitchFleet(ctx, active, to, "test")
		if err != nil || !changed || st.Active != to {
			t.Fatalf("switch %s → %s: %+v changed=%v err=%v", active, to, st, changed, err)
		}
		active, switches = to, switches+1
		time.Sleep(time.Duration(10+switches%40) * time.Millisecond)
	}
	if active != "green" { // end on green
		if _, _, err := q.SwitchFleet(ctx, active, "green", "test"); err != nil {
			t.Fatal(err)
		}
	}
	settled := time.Now().Unix() + 1
	time.Sleep(2500 * time.Millisecond)
	end := time.Now().Unix() - 1

	perHost := map[string]map[string]map[int64]int{}
	for _, hs := range fleets {
		for _, h := range hs {
			perHost[h] = queuetest.RunsPerTick(t, q, []string{h})
		}
	}
	onGreen := 0
	for _, n := range names {
		for s := start; s <= end; s++ {
			got := map[string]int{}
			for f, hs := range fleets {
				for _, h := range hs {
					got[f] += perHost[h][n][s]
				}
			}
			ok := (got["blue"] == 2 && got["green"] == 0) || (got["blue"] == 0 && got["green"] == 2)
			if !ok {
				t.Errorf("schedule %s tick %d: runs blue=%d green=%d, want 2 on exactly one fleet", n, s, got["blue"], got["green"])
			}
			if s >= settled && got["green"] != 2 {
				t.Errorf("schedule %s tick %d after the last switch to green: runs blue=%d green=%d", n, s, got["blue"], got["green"])
			}
			if got["green"] == 2 {
				onGreen++
			}
		}
	}
	t.Logf("%d switches, %d ticks × %d schedules, %d fires on green", switches, end-start+1, len(names), onGreen)
}

// TestBeatNoFleetsIgnoresFleetState: a set without fleets fires to every
// host whatever the fleet state says.
func TestBeatNoFleetsIgnoresFleetState(t *testing.T) {
	q := redisQueue(t)(t)
	if _, _, err := q.SwitchFleet(context.Background(), "", "green", "test"); err != nil {
		t.Fatal(err)
	}
	hosts := []string{"web1", "web2"}
	a, _ := startBeat(t, q, testSet(hosts, "every-second"), schedule.Options{ID: "a"})
	waitRole(t, a, schedule.RoleLeader, 3*time.Second)
	start := time.Now().Unix() + 1
	time.Sleep(2500 * time.Millisecond)
	checkExactlyOnce(t, queuetest.RunsPerTick(t, q, hosts), []string{"every-second"}, start, time.Now().Unix()-1, 2)
}

// TestSwitchingServesAndAwait: Serves refuses a fleet the published set
// has no host of and accepts one it has (and any before a set is
// published); Await sees every running beat — leader and standby — report
// the new generation well within its wait.
func TestSwitchingServesAndAwait(t *testing.T) {
	q := redisQueue(t)(t)
	ctx := context.Background()
	sw := schedule.Switching(q)
	if ok, _, err := sw.Serves(ctx, "green"); !ok || err != nil {
		t.Fatalf("before any set is published: %v %v", ok, err)
	}
	set := testSet(nil, "s0")
	set.Hosts = append(set.Hosts, schedule.Host{Name: "blue1", Role: "web", Fleet: "blue"})
	a, _ := startBeat(t, q, set, schedule.Options{ID: "a"})
	waitRole(t, a, schedule.RoleLeader, 3*time.Second)
	b, _ := startBeat(t, q, set, schedule.Options{ID: "b"})
	waitRole(t, b, schedule.RoleStandby, 3*time.Second)
	ok, why, err := sw.Serves(ctx, "green")
	if ok || err != nil || !strings.Contains(why, "has no host of fleet green") {
		t.Fatalf("green, not in the set: %v %q %v", ok, why, err)
	}
	if ok, _, _ := sw.Serves(ctx, "blue"); !ok {
		t.Fatal("blue, in the set, refused")
	}
	if bs, err := schedule.ReadStatus(ctx, q, 1); err != nil || bs.Fleet == nil || !bs.Fleet.Default || bs.Fleet.Active != "blue" {
		t.Fatalf("beat status before a switch: %+v %v", bs.Fleet, err)
	}
	st, _, err := q.SwitchFleet(ctx, "", "blue", "test")
	if err != nil {
		t.Fatal(err)
	}
	if bs, err := schedule.ReadStatus(ctx, q, 1); err != nil || bs.Fleet == nil || bs.Fleet.Default || bs.Fleet.Active != "blue" || bs.Fleet.Gen != st.Gen || bs.Fleet.By != "test" || bs.Fleet.SwitchedAt.IsZero() {
		t.Fatalf("beat status after a switch: %+v %v", bs.Fleet, err)
	}
	acked, pending, err := sw.Await(ctx, st.Gen, 5*time.Second)
	if err != nil || len(pending) != 0 || strings.Join(acked, ",") != "a,b" && strings.Join(acked, ",") != "b,a" {
		t.Fatalf("await gen %d: acked %v pending %v err %v", st.Gen, acked, pending, err)
	}
	ms, err := schedule.Members(ctx, q)
	if err != nil || len(ms) != 2 || ms[0].Fleet != "blue" || ms[0].FleetGen != st.Gen {
		t.Fatalf("member records: %+v %v", ms, err)
	}
}
