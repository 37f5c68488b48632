package worker

import (
	"context"
	"testing"
	"time"

	"github.com/celeroot/celeroot/queue"
)

// benchRuns enqueues b.N runs of task, then measures how long one worker
// with 8 slots takes to run them all, from its start (enqueue excluded).
func benchRuns(b *testing.B, task, module string) {
	f := newFixture(b, roleOpts{concurrency: 8})
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = f.enqueue(task, module, nil, nil)
	}
	b.ResetTimer()
	start := time.Now()
	w := f.start(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	runs, err := f.q.Wait(ctx, ids...)
	elapsed := time.Since(start)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range runs {
		if r.State != queue.StateSucceeded {
			b.Fatalf("run %s: %s %q", r.ID, r.State, r.Reason)
		}
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "runs/s")
	w.stop(b, time.Minute)
}

// BenchmarkPing: built-in ping, no subprocess (go test -bench Ping ./worker/).
func BenchmarkPing(b *testing.B) { benchRuns(b, "ping", "builtin") }

// BenchmarkSubprocess: a command task (/bin/true).
func BenchmarkSubprocess(b *testing.B) { benchRuns(b, "true", "t") }
