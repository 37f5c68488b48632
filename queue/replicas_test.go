package queue_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/queue/queuetest"
)

func TestWaitReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("needs redis-server")
	}
	primary := queuetest.StartRedis(t, "--repl-diskless-sync-delay", "0")
	ctx := context.Background()
	run := func() *queue.Run { return &queue.Run{Task: "ping", Target: queue.RoleQueue("web")} }

	// No replica: the enqueue reaches the primary but is refused.
	q := queuetest.Opener(primary.URL())(t, queue.WithWaitReplicas(1, 100*time.Millisecond))
	start := time.Now()
	_, _, err := q.Enqueue(ctx, run(), "")
	if !errors.Is(err, queue.ErrReplicaTimeout) || !strings.Contains(err.Error(), "0 of 1 replicas within 100ms") {
		t.Fatalf("enqueue without a replica: %v, want ErrReplicaTimeout naming 0 of 1 replicas", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("enqueue refused after %v, before the 100ms WAIT timeout", d)
	}
	outs, err := q.EnqueueMany(ctx, run(), run())
	if !errors.Is(err, queue.ErrReplicaTimeout) {
		t.Fatalf("EnqueueMany without a replica: %v %v, want ErrReplicaTimeout", outs, err)
	}
	r := run()
	r.ID = "explicit1"
	if _, _, err := q.Enqueue(ctx, r, ""); !errors.Is(err, queue.ErrReplicaTimeout) {
		t.Fatalf("enqueue with an explicit id without a replica: %v, want ErrReplicaTimeout", err)
	}

	// With a replica: acknowledged, and the run is on the replica.
	replica := queuetest.StartRedis(t, "--replicaof", "127.0.0.1", strconv.Itoa(primary.Port), "--repl-diskless-sync-delay", "0")
	rq := queuetest.Opener(replica.URL())(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		id, _, err := q.Enqueue(ctx, run(), "")
		if err == nil {
			// WAIT returned: the replica has the run already, no polling.
			if _, err := queuetest.Client(rq).Get(ctx, q.Keys().Where(id)).Result(); err != nil {
				t.Fatalf("run %s acknowledged by WAIT but not on the replica: %v", id, err)
			}
			break
		}
		if !errors.Is(err, queue.ErrReplicaTimeout) || time.Now().After(deadline) {
			t.Fatalf("enqueue with a replica: %v", err)
		}
	}
}

func TestWaitReplicasOptions(t *testing.T) {
	url := queuetest.StartMiniredis(t)
	if _, err := queue.Open(context.Background(), url, queue.Namespace{Cluster: "w"}, queue.WithWaitReplicas(-1, time.Second)); err == nil || !strings.Contains(err.Error(), "wait replicas -1") {
		t.Errorf("negative replicas: %v, want an error naming them", err)
	}
	if _, err := queue.Open(context.Background(), url, queue.Namespace{Cluster: "w"}, queue.WithWaitReplicas(1, 0)); err == nil || !strings.Contains(err.Error(), "timeout > 0") {
		t.Errorf("zero timeout: %v, want an error naming it", err)
	}
	opts := queue.ConfigOptions(config.Redis{TaskTTL: config.Duration(time.Hour), WaitReplicas: 1, WaitTimeout: config.Duration(time.Second)})
	if len(opts) != 3 {
		t.Errorf("ConfigOptions with wait_replicas 1: %d options, want 3 (run TTL, log TTL, WAIT)", len(opts))
	}
	if opts := queue.ConfigOptions(config.Redis{TaskTTL: config.Duration(time.Hour)}); len(opts) != 2 {
		t.Errorf("ConfigOptions without wait_replicas: %d options, want 2", len(opts))
	}
}
