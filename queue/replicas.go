package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/celeroot/celeroot/config"
)

// ErrReplicaTimeout: an enqueue reached the primary but fewer replicas than
// WithWaitReplicas asks for acknowledged it in time. The run is queued on
// the primary and is usually run; it is lost only if the primary fails
// before a replica copies it. Retry with the same idempotency key to be
// sure without enqueueing it twice.
var ErrReplicaTimeout = errors.New("not acknowledged by enough replicas")

// WithWaitReplicas makes every enqueue wait, after its writes and on the
// same connection (Redis WAIT), until n replicas have them or timeout has
// passed; an enqueue that fewer replicas acknowledged fails with an error
// wrapping ErrReplicaTimeout. It narrows the window in which a failover
// (Sentinel promoting a replica) loses acknowledged enqueues, at the cost of
// a replication round trip per enqueue. n = 0 (the default) turns it off.
// Not for Redis Cluster: New refuses it there.
func WithWaitReplicas(n int, timeout time.Duration) Option {
	return func(o *options) { o.waitReplicas, o.waitTimeout = n, timeout }
}

// ConfigOptions returns the queue options that cl.yaml's redis section
// sets: the run and log TTL (redis.task_ttl) and WAIT on enqueue
// (redis.wait_replicas, redis.wait_timeout).
func ConfigOptions(r config.Redis) []Option {
	opts := []Option{WithRunTTL(r.TaskTTL.D()), WithLogTTL(r.TaskTTL.D())}
	if r.WaitReplicas > 0 {
		opts = append(opts, WithWaitReplicas(r.WaitReplicas, r.WaitTimeout.D()))
	}
	return opts
}

// checkWait validates the WAIT options against the client.
func (q *Queue) checkWait() error {
	n, d := q.opt.waitReplicas, q.opt.waitTimeout
	if n == 0 {
		return nil
	}
	if n < 0 || d <= 0 {
		return fmt.Errorf("queue options: wait replicas %d, timeout %v: want replicas ≥ 0 and a timeout > 0", n, d)
	}
	if q.isCluster() {
		return fmt.Errorf("queue options: wait replicas %d: not supported on Redis Cluster; set redis.wait_replicas to 0 or use redis:// or redis-sentinel://", n)
	}
	return nil
}

// appendWait queues WAIT at the end of p when the queue waits for
// replicas; nil otherwise.
func (q *Queue) appendWait(ctx context.Context, p redis.Pipeliner) *redis.Cmd {
	if q.opt.waitReplicas == 0 {
		return nil
	}
	// Pipeliner has no Wait method; the context's deadline (opEnqueue)
	// covers the WAIT timeout.
	return p.Do(ctx, "wait", q.opt.waitReplicas, q.opt.waitTimeout.Milliseconds())
}

// waitErr reads the reply of a WAIT queued by appendWait.
func (q *Queue) waitErr(cmd *redis.Cmd) error {
	if cmd == nil {
		return nil
	}
	got, err := cmd.Int64()
	if err != nil {
		return fmt.Errorf("wait for %d replicas: %w", q.opt.waitReplicas, err)
	}
	if got < int64(q.opt.waitReplicas) {
		return fmt.Errorf("%w: %d of %d replicas within %v (the run is on the primary only; check the replicas with INFO replication, or raise redis.wait_timeout)",
			ErrReplicaTimeout, got, q.opt.waitReplicas, q.opt.waitTimeout)
	}
	return nil
}

// opEnqueue is op for an enqueue: the WAIT timeout comes on top.
func (q *Queue) opEnqueue(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, q.opt.opTimeout+q.opt.waitTimeout)
}
