package schedule_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/queue/queuetest"
	"github.com/celeroot/celeroot/schedule"
)

func TestBeatStatusAndStepDown(t *testing.T) {
	q := redisQueue(t)(t)
	set := testSet([]string{"h1", "h2"}, "tick")
	a, _ := startBeat(t, q, set, schedule.Options{ID: "a", Version: "v-test"})
	waitRole(t, a, schedule.RoleLeader, 3*time.Second)
	b, _ := startBeat(t, q, set, schedule.Options{ID: "b"})
	waitRole(t, b, schedule.RoleStandby, 3*time.Second)
	time.Sleep(1500 * time.Millisecond)

	ctx := context.Background()
	st, err := schedule.ReadStatus(ctx, q, 3)
	if err != nil {
		t.Fatal(err)
	}
	if st.Leader == nil || st.Leader.ID != "a" || st.Leader.Epoch < 1 || st.Leader.Version != "v-test" {
		t.Fatalf("leader = %+v", st.Leader)
	}
	if len(st.Beats) != 2 {
		t.Errorf("beats = %+v", st.Beats)
	}
	if st.Published == nil || st.Published.SHA != "t1" || st.Published.Schedules != 1 {
		t.Errorf("published = %+v", st.Published)
	}
	if len(st.Schedules) != 1 || len(st.Schedules[0].Next) != 3 || st.Schedules[0].Last == nil {
		t.Fatalf("schedules = %+v", st.Schedules)
	}
	last := st.Schedules[0]
	if last.Last.Hosts != 2 || last.Results["queued"] != 2 {
		t.Errorf("last fire %+v, results %v", last.Last, last.Results)
	}

	// The status read model's beat part says the same.
	bst, err := schedule.StatusOf(q).BeatStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if l := bst.Leader; l == nil || l.ID != "a" || l.Epoch != st.Leader.Epoch || !l.LeaseExpires.After(time.Now()) || l.LeaseExpires.After(time.Now().Add(time.Minute)) {
		t.Errorf("beat status leader = %+v", bst.Leader)
	}
	if bst.Beats != 2 || len(bst.LastFires) != 1 || bst.LastFires[0].Schedule != last.Name || bst.LastFires[0].Hosts != 2 || !bst.LastFires[0].Tick.Equal(last.Last.Tick) {
		t.Errorf("beat status = %+v", bst)
	}

	old, now, err := schedule.StepDown(ctx, q, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(old, "a|") || !strings.HasPrefix(now, "b|") {
		t.Errorf("step down: %q → %q, want a → b", old, now)
	}
	waitRole(t, b, schedule.RoleLeader, 2*time.Second)
	waitRole(t, a, schedule.RoleStandby, 2*time.Second)
}

func TestBeatOnMiniredis(t *testing.T) {
	q := queuetest.Opener(queuetest.StartMiniredis(t))(t)
	hosts := []string{"h1"}
	a, _ := startBeat(t, q, testSet(hosts, "m"), schedule.Options{ID: "a"})
	waitRole(t, a, schedule.RoleLeader, 3*time.Second)
	start := time.Now().Unix() + 1
	time.Sleep(2200 * time.Millisecond)
	end := time.Now().Unix() - 1
	checkExactlyOnce(t, queuetest.RunsPerTick(t, q, hosts), []string{"m"}, start, end, 1)
}
