package queue

import (
	"context"
	"errors"
	"strings"

	"github.com/redis/go-redis/v9"
)

// scriptCall is one script invocation in a pipeline; cmd holds its reply
// after execPipe.
type scriptCall struct {
	script *redis.Script
	keys   []string
	args   []any
	cmd    *redis.Cmd
}

// execPipe sends the commands queued by pre, then the script calls, in one
// pipeline (EVALSHA), and re-runs with EVAL the calls that met an empty
// script cache (after a Redis restart or failover) in a second one. It
// returns the first connection-level error; replies with a Redis error are
// left in their commands for the caller to inspect.
func (q *Queue) execPipe(ctx context.Context, pre func(redis.Pipeliner), calls []*scriptCall) error {
	return q.execPipeWait(ctx, pre, calls, false)
}

// execPipeWait is execPipe; with durable, each pipeline ends with the WAIT
// of WithWaitReplicas (when set), and too few replica acknowledgements
// are an error wrapping ErrReplicaTimeout.
func (q *Queue) execPipeWait(ctx context.Context, pre func(redis.Pipeliner), calls []*scriptCall, durable bool) error {
	var wait *redis.Cmd
	pipe := q.rdb.Pipeline()
	if pre != nil {
		pre(pipe)
	}
	for _, c := range calls {
		c.cmd = c.script.EvalSha(ctx, pipe, c.keys, c.args...)
	}
	if durable {
		wait = q.appendWait(ctx, pipe)
	}
	cmds, _ := pipe.Exec(ctx)
	var again []*scriptCall
	for _, c := range calls {
		if err := c.cmd.Err(); err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
			again = append(again, c)
		}
	}
	if len(again) > 0 {
		pipe = q.rdb.Pipeline()
		for _, c := range again {
			c.cmd = c.script.Eval(ctx, pipe, c.keys, c.args...)
		}
		if durable {
			// WAIT counts up to this connection's last write, which
			// follows every write of the first pipeline.
			wait = q.appendWait(ctx, pipe)
		}
		_, _ = pipe.Exec(ctx)
	}
	for _, c := range cmds {
		if err := c.Err(); err != nil && !isReplyErr(err) && !strings.HasPrefix(err.Error(), "NOSCRIPT") {
			return err
		}
	}
	for _, c := range again {
		if err := c.cmd.Err(); err != nil && !isReplyErr(err) {
			return err
		}
	}
	return q.waitErr(wait)
}

// isReplyErr reports whether err is an error reply of the server (the
// command ran and failed, e.g. a script error) rather than a failure to
// reach the server; redis.Nil counts as a reply.
func isReplyErr(err error) bool {
	var re redis.Error
	return errors.Is(err, redis.Nil) || errors.As(err, &re)
}

// isCluster reports whether the client talks to a Redis Cluster, where the
// commands of one pipeline run on several nodes in no fixed order and one
// command cannot read streams of different slots.
func (q *Queue) isCluster() bool {
	_, ok := q.rdb.(*redis.ClusterClient)
	return ok
}
