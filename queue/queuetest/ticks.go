package queuetest

import (
	"context"
	"testing"

	"github.com/celeroot/celeroot/queue"
)

// RunsPerTick counts the runs waiting on the hosts' queues by schedule and
// tick (unix seconds): what the scheduler's tests compare with the fires
// they expect.
func RunsPerTick(t testing.TB, q *queue.Queue, hosts []string) map[string]map[int64]int {
	t.Helper()
	ctx := context.Background()
	out := map[string]map[int64]int{}
	for _, h := range hosts {
		msgs, err := Client(q).XRange(ctx, q.Keys().Stream(queue.HostQueue(h)), "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			id, _ := m.Values["run"].(string)
			r, err := q.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if out[r.ScheduleID] == nil {
				out[r.ScheduleID] = map[int64]int{}
			}
			out[r.ScheduleID][r.Tick.Unix()]++
		}
	}
	return out
}
