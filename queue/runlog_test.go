package queue_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/queue/queuetest"
)

// Output written while Redis is down is held and sent when it is back, in
// order, without the task's writes failing or waiting for Redis.
func TestRunLogHeldWhileRedisDown(t *testing.T) {
	t.Parallel()
	srv := queuetest.StartRedis(t, "--appendonly", "yes", "--appendfsync", "always")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	q, err := queue.Open(ctx, srv.URL(), queue.Namespace{Cluster: "down"}, queue.WithOpTimeout(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	id := queue.NewID()
	rl := q.RunLog(ctx, id)
	w := rl.Writer("stdout")
	fmt.Fprint(w, "before\n")
	if got := texts(t, q, id); got != "before" {
		t.Fatalf("log before the outage: %q", got)
	}

	srv.Stop()
	start := time.Now()
	for i := range 50 {
		if _, err := fmt.Fprintf(w, "during %d\n", i); err != nil {
			t.Fatalf("write while Redis is down: %v", err)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("50 writes while Redis is down took %s: they must not wait for Redis each", d)
	}
	srv.Start(t)

	// The held lines go out without another write.
	var want []string
	want = append(want, "before")
	for i := range 50 {
		want = append(want, fmt.Sprintf("during %d", i))
	}
	deadline := time.Now().Add(10 * time.Second)
	for texts(t, q, id) != strings.Join(want, "|") {
		if time.Now().After(deadline) {
			t.Fatalf("held lines not sent 10s after Redis came back: %q", texts(t, q, id))
		}
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Fprint(w, "after")
	if err := rl.Close(); err != nil {
		t.Fatal(err)
	}
	if got := texts(t, q, id); got != strings.Join(append(want, "after"), "|") {
		t.Fatalf("log after the outage: %q", got)
	}
}

// Close keeps trying while Redis is down and sends what it holds when
// Redis is back.
func TestRunLogCloseWaitsForRedis(t *testing.T) {
	t.Parallel()
	srv := queuetest.StartRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	q, err := queue.Open(ctx, srv.URL(), queue.Namespace{Cluster: "down"}, queue.WithOpTimeout(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	id := queue.NewID()
	rl := q.RunLog(ctx, id)
	srv.Stop()
	fmt.Fprint(rl.Writer("stderr"), "last words\nno newline")
	go func() { time.Sleep(1500 * time.Millisecond); srv.Start(t) }()
	if err := rl.Close(); err != nil {
		t.Fatalf("close with Redis back within 2s: %v", err)
	}
	if got := texts(t, q, id); got != "last words|no newline" {
		t.Fatalf("log: %q", got)
	}
}

func texts(t *testing.T, q *queue.Queue, id string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	lines, _, err := q.Logs(ctx, id, "0", 0)
	if err != nil {
		return "error: " + err.Error()
	}
	var s []string
	for _, l := range lines {
		s = append(s, l.Text)
	}
	return strings.Join(s, "|")
}
