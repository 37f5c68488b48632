package observe

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/queue/queuetest"
	"github.com/celeroot/celeroot/termtext"
)

// addTimings writes task timings of known durations (1..n ms) into a
// queue's timings stream, every failEvery-th failed.
func addTimings(t *testing.T, q *queue.Queue, target, task string, n, failEvery int) {
	t.Helper()
	rdb := queuetest.Client(q)
	for i := 1; i <= n; i++ {
		out := "succeeded"
		if failEvery > 0 && i%failEvery == 0 {
			out = "failed"
		}
		if err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: q.Keys().Timings(target),
			Values: []any{"task", task, "ms", i, "out", out}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCollectKnownDurationsGiveKnownQuantiles(t *testing.T) {
	ctx := context.Background()
	q, _ := newQueue(t)
	addTimings(t, q, "role:web", "app.report", 100, 10) // 1..100 ms, 10 failed
	addTimings(t, q, "host:web1", "app.report", 0, 0)
	for i := 1; i <= 20; i++ {
		if err := q.RecordTiming(ctx, "apply", time.Duration(i)*time.Second, i != 20); err != nil {
			t.Fatal(err)
		}
	}
	m, err := Collect(ctx, q, []string{"role:web", "host:web1"})
	if err != nil {
		t.Fatal(err)
	}
	r, ok := m.Task("app.report")
	if !ok {
		t.Fatalf("no metrics of app.report: %+v", m.Tasks)
	}
	ms := time.Millisecond
	if r.Runs != 100 || r.Failed != 10 || r.FailureRate != 10 ||
		r.Time.P50 != 50*ms || r.Time.P95 != 95*ms || r.Time.P99 != 99*ms || r.Time.Max != 100*ms {
		t.Errorf("app.report: %+v", r)
	}
	ap := m.Op("apply")
	if ap.Count != 20 || ap.Failed != 1 || ap.Time.P50 != 10*time.Second || ap.Time.P95 != 19*time.Second || ap.Time.P99 != 20*time.Second {
		t.Errorf("apply: %+v", ap)
	}
	if len(m.Queues) != 2 {
		t.Errorf("queues: want both configured ones, empty too: %+v", m.Queues)
	}
}

// A run completed through the queue records its duration and outcome.
func TestCompletedRunsAreTimed(t *testing.T) {
	ctx := context.Background()
	q, _ := newQueue(t)
	target := queue.RoleQueue("web")
	for i, fail := range []bool{false, true} {
		if _, _, err := q.Enqueue(ctx, &queue.Run{Task: "app.slow", Target: target}, ""); err != nil {
			t.Fatal(err)
		}
		ds, err := q.Claim(ctx, "web1", []string{target}, 1, time.Second)
		if err != nil || len(ds) != 1 {
			t.Fatalf("claim %d: %v %v", i, ds, err)
		}
		time.Sleep(60 * time.Millisecond)
		res := queue.Result{}
		if fail {
			res = queue.Result{ExitCode: 3, Err: errors.New("exit 3"), Permanent: true}
		}
		if _, err := q.Complete(ctx, ds[0], res); err != nil {
			t.Fatal(err)
		}
	}
	m, err := Collect(ctx, q, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := m.Task("app.slow")
	if r.Runs != 2 || r.Failed != 1 || r.FailureRate != 50 || r.Time.P50 < 60*time.Millisecond || r.Time.Max > 5*time.Second {
		t.Errorf("app.slow: %+v", r)
	}
}

// TestWriteTextCleansNames: a queue or task name read from Redis with an
// escape sequence is shown escaped, and wide names keep the columns.
func TestWriteTextCleansNames(t *testing.T) {
	m := &Metrics{Window: 10,
		Tasks:  []TaskMetrics{{Task: "m.\x1b]0;pwned\x07", Runs: 2}, {Task: "m.日本語", Runs: 1}},
		Queues: []queue.QueueStats{{Queue: "role:\x1b[2J", Waiting: 3}, {Queue: "host:ウェブ", Waiting: 1}},
		Ops:    []OpMetrics{{Kind: "apply"}}}
	var b strings.Builder
	if err := m.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.ContainsAny(out, "\x1b\x07") || !strings.Contains(out, `m.\x1b]0;pwned\x07`) || !strings.Contains(out, `role:\x1b[2J`) {
		t.Fatalf("names not cleaned:\n%q", out)
	}
	lines := strings.Split(out, "\n")
	col := func(prefix, word string) int {
		for _, l := range lines {
			if strings.HasPrefix(l, prefix) {
				return termtext.Width(l[:strings.Index(l, word)])
			}
		}
		t.Fatalf("no line %q in\n%s", prefix, out)
		return 0
	}
	if a, b := col("TASK", "RUNS"), col("m.日本語", "1"); a != b {
		t.Errorf("RUNS column at %d, the wide task's count at %d:\n%s", a, b, out)
	}
}
