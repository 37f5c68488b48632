package queue_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/queue/queuetest"
)

// The conformance suite, once per backend. redis-server and Redis Cluster
// are skipped only when redis-server is not installed (Debian package
// redis-server); miniredis always runs.

func TestSuiteRedisServer(t *testing.T) {
	t.Parallel()
	srv := queuetest.StartRedis(t)
	queuetest.RunSuite(t, queuetest.Opener(srv.URL()))
}

func TestSuiteRedisCluster(t *testing.T) {
	t.Parallel()
	queuetest.RunSuite(t, queuetest.Opener(queuetest.StartCluster(t)))
}

func TestSuiteMiniredis(t *testing.T) {
	t.Parallel()
	queuetest.RunSuite(t, queuetest.Opener(queuetest.StartMiniredis(t)))
}

// TestConsumeSurvivesRedisRestart: Consume keeps serving after redis-server
// restarts (and loses everything, groups included).
func TestConsumeSurvivesRedisRestart(t *testing.T) {
	t.Parallel()
	srv := queuetest.StartRedis(t)
	q := queuetest.Opener(srv.URL())(t, queue.WithOpTimeout(time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var ran atomic.Int64
	done := make(chan error, 1)
	go func() {
		done <- q.Consume(ctx, queue.ConsumerConfig{Host: "h1", Roles: []string{"r"}, Block: 200 * time.Millisecond},
			func(context.Context, *queue.Delivery) queue.Result { ran.Add(1); return queue.Result{} })
	}()
	runOne := func(target string) {
		t.Helper()
		var id string
		var err error
		// Right after the restart the client may still hold dead connections.
		for range 50 {
			if id, _, err = q.Enqueue(ctx, &queue.Run{Task: "ping", Target: target}, ""); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("enqueue: %v", err)
		}
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		defer wcancel()
		runs, err := q.Wait(wctx, id)
		if err != nil || runs[0].State != queue.StateSucceeded {
			t.Fatalf("run on %s: %v %v", target, runs, err)
		}
	}
	runOne(queue.HostQueue("h1"))
	srv.Restart(t, 500*time.Millisecond)
	runOne(queue.HostQueue("h1"))
	runOne(queue.RoleQueue("r"))
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ran.Load() != 3 {
		t.Fatalf("handler ran %d times, want 3", ran.Load())
	}
}

// Benchmarks against a real redis-server, with 4×GOMAXPROCS concurrent
// clients (throughput is reported as runs/s):
//
//	go test ./queue -run '^$' -bench . -benchtime 3s
func BenchmarkEnqueue(b *testing.B) {
	q := benchQueue(b)
	ctx := context.Background()
	target := queue.RoleQueue("bench")
	b.SetParallelism(4) // 8 clients on 2 cores: many workers, one Redis
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := q.Enqueue(ctx, &queue.Run{Task: "ping", Target: target}, ""); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "runs/s")
}

func BenchmarkRoundTrip(b *testing.B) {
	q := benchQueue(b)
	ctx := context.Background()
	var n atomic.Int64
	b.SetParallelism(4) // 8 clients on 2 cores: many workers, one Redis
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := n.Add(1)
		target := queue.HostQueue(fmt.Sprintf("h%d", i))
		for pb.Next() {
			if _, _, err := q.Enqueue(ctx, &queue.Run{Task: "ping", Target: target}, ""); err != nil {
				b.Fatal(err)
			}
			ds, err := q.Claim(ctx, fmt.Sprintf("h%d", i), []string{target}, 1, 0)
			if err != nil || len(ds) != 1 {
				b.Fatalf("claim: %d %v", len(ds), err)
			}
			if _, err := q.Complete(ctx, ds[0], queue.Result{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "runs/s")
}

func benchQueue(b *testing.B) *queue.Queue {
	srv := queuetest.StartRedis(b)
	q, err := queue.Open(context.Background(), srv.URL(), queue.Namespace{Cluster: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = q.Close() })
	return q
}
