package queue_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

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

func TestParseQueueNames(t *testing.T) {
	for _, c := range []struct {
		q          string
		host, role string
	}{
		{queue.HostQueue("web1"), "web1", ""},
		{queue.RoleQueue("webserver_tasks"), "", "webserver_tasks"},
		{"host:", "", ""},
		{"role:", "", ""},
		{"hostweb1", "", ""},
	} {
		h, hok := queue.ParseHostQueue(c.q)
		r, rok := queue.ParseRoleQueue(c.q)
		if h != c.host || hok != (c.host != "") || r != c.role || rok != (c.role != "") {
			t.Errorf("%q: host %q %v, role %q %v; want host %q, role %q", c.q, h, hok, r, rok, c.host, c.role)
		}
	}
}
