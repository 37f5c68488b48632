package config

import (
	"strings"
	"time"
)

// maxWaitTimeout bounds redis.wait_timeout: an enqueue blocks that long
// when a replica is down.
const maxWaitTimeout = time.Minute

// validateWait checks redis.wait_replicas and redis.wait_timeout.
func (c *Config) validateWait(k checker) {
	r := c.Redis
	if r.WaitReplicas < 0 || r.WaitReplicas > 16 {
		k.err("redis.wait_replicas", "use 0 (off, the default) or the number of replicas that must have each enqueue, e.g. 1",
			"wait_replicas %d is out of range 0..16", r.WaitReplicas)
	}
	if d := r.WaitTimeout.D(); k.c.setPaths["redis.wait_timeout"] && (d < 10*time.Millisecond || d > maxWaitTimeout) {
		k.err("redis.wait_timeout", "use a duration from 10ms to 1m (default 1s)", "wait_timeout %s is out of range", r.WaitTimeout)
	}
	if r.WaitReplicas > 0 && (strings.HasPrefix(r.URL, "redis-cluster://") || strings.HasPrefix(r.URL, "rediss-cluster://")) {
		k.err("redis.wait_replicas", "set it to 0: WAIT on enqueue is for redis:// and redis-sentinel:// URLs",
			"wait_replicas is not supported with Redis Cluster")
	}
}
