package schedule_test

import (
	"context"
	"fmt"
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
