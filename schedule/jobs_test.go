package schedule_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/celeroot/celeroot/schedule"
)

// TestJobsRunOncePerTick: two beats share a namespace and each carries an
// every-second job; only the leader runs it, and each tick runs once
// across both beats (the tick is marked in Redis before it runs).
func TestJobsRunOncePerTick(t *testing.T) {
	open := redisQueue(t)
	c, err := schedule.NewCron("* * * * * *", time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	ticks := map[int64]int{}
	job := schedule.Job{Name: "count", Cron: c, Run: func(ctx context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		ticks[time.Now().Unix()]++
		return nil
	}}
	set := testSet([]string{"h1"})
	q := open(t) // one namespace: the two beats compete for its lease
	b1, _ := startBeat(t, q, set, schedule.Options{Jobs: []schedule.Job{job}})
	waitRole(t, b1, schedule.RoleLeader, 5*time.Second)
	startBeat(t, q, set, schedule.Options{Jobs: []schedule.Job{job}})
	time.Sleep(3500 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(ticks) < 2 {
		t.Fatalf("the job ran at %d ticks in 3.5 s: %v", len(ticks), ticks)
	}
	for sec, n := range ticks {
		if n != 1 {
			t.Errorf("tick %d ran %d times", sec, n)
		}
	}
}
