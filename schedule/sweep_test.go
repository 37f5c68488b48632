package schedule

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/queue/queuetest"
)

// TestSweepFinishesADeadLeadersFire leaves a fire claimed and half fanned
// out, as a leader killed mid fan-out does, and checks that the next leader
// enqueues the missing host's run only, and records the fire.
func TestSweepFinishesADeadLeadersFire(t *testing.T) {
	if testing.Short() {
		t.Skip("needs redis-server")
	}
	q := queuetest.Opener(queuetest.StartRedis(t).URL())(t)
	ctx := context.Background()
	k := q.Beat()
	tick := time.Now().Add(-2 * time.Second).Truncate(time.Second)
	tr := TaskRun{Task: "ping", Module: "builtin"}
	plan := firePlan{Schedule: "nightly", TickMS: tick.UnixMilli(), DeadlineMS: time.Hour.Milliseconds(),
		Tasks: []TaskRun{tr}, Hosts: []planHost{{"h1", 0}, {"h2", 0}}}
	raw, _ := json.Marshal(plan)
	key := k.FireKey("nightly", tick.UnixMilli())
	firing := q.Keys().Prefix() + "{beat}:firing"
	rdb := queuetest.Client(q)
	if err := rdb.HSet(ctx, key, "state", "firing", "lease", "dead|1", "plan", string(raw)).Err(); err != nil {
		t.Fatal(err)
	}
	rdb.ZAdd(ctx, firing, redisZ(float64(tick.UnixMilli()), key))
	// The dead leader had enqueued h1's run.
	first, _, err := q.Enqueue(ctx, &queue.Run{Task: "ping", Module: "builtin", Target: queue.HostQueue("h1"), ScheduleID: "nightly", Tick: tick},
		IdempotencyKey("nightly", tick, "h1"))
	if err != nil {
		t.Fatal(err)
	}

	set := &Set{Hosts: []Host{{Name: "h1", Role: "web"}, {Name: "h2", Role: "web"}}, Schedules: []Spec{{
		Name: "nightly", Cron: "0 3 * * *", Enabled: true, Targets: []config.Target{{Role: "web"}}, Tasks: map[string]TaskRun{"web": tr}}}}
	var mu sync.Mutex
	var events []FireEvent
	b, err := NewFromSet(set, q, Options{ID: "next", Lease: 500 * time.Millisecond, OnFire: func(ev FireEvent) {
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = b.Run(rctx); close(done) }()
	defer func() { cancel(); <-done }()

	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(events)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sweep did not finish the fire")
		}
		time.Sleep(20 * time.Millisecond)
	}
	ev := events[0]
	if !ev.Recovered || ev.Enqueued != 1 || ev.Duplicates != 1 || ev.Hosts != 2 {
		t.Errorf("recovered fire: %+v", ev)
	}
	if n := rdb.ZCard(ctx, firing).Val(); n != 0 {
		t.Errorf("%d fires still in progress", n)
	}
	if st := rdb.HGet(ctx, key, "state").Val(); st != "done" {
		t.Errorf("fire state %q", st)
	}
	for _, h := range []string{"h1", "h2"} {
		if n := rdb.XLen(ctx, q.Keys().Stream(queue.HostQueue(h))).Val(); n != 1 {
			t.Errorf("%s has %d runs, want 1", h, n)
		}
	}
	if _, dup, _ := q.Enqueue(ctx, &queue.Run{Task: "ping", Target: queue.HostQueue("h1")}, IdempotencyKey("nightly", tick, "h1")); !dup {
		t.Errorf("h1's first run %s was not the one kept", first)
	}
}

func redisZ(score float64, member string) redis.Z { return redis.Z{Score: score, Member: member} }
