package queue

import (
	"context"
	"fmt"
	"sort"

	"github.com/redis/go-redis/v9"
)

// QueueStats is the depth of one queue, for cl task status.
type QueueStats struct {
	Queue   string `json:"queue"`
	Waiting int64  `json:"waiting"` // in the stream, not delivered to any worker yet
	Pending int64  `json:"pending"` // delivered to a worker, not completed
	Running int64  `json:"running"` // started and holding (or having held) a lease
	Delayed int64  `json:"delayed"` // failed, waiting for their retry backoff
}

// Queues lists the queues that ever had a run enqueued in this namespace.
func (q *Queue) Queues(ctx context.Context) ([]string, error) {
	octx, cancel := q.op(ctx)
	defer cancel()
	qs, err := q.rdb.SMembers(octx, q.keys.Queues()).Result()
	if err != nil {
		return nil, fmt.Errorf("list queues: %w", err)
	}
	sort.Strings(qs)
	return qs, nil
}

// Stats returns the depth of each queue (all known queues when none given),
// in a single pipelined round trip.
func (q *Queue) Stats(ctx context.Context, queues ...string) ([]QueueStats, error) {
	if len(queues) == 0 {
		var err error
		if queues, err = q.Queues(ctx); err != nil {
			return nil, err
		}
	}
	octx, cancel := q.op(ctx)
	defer cancel()
	type cmds struct {
		xlen, running, delayed *redis.IntCmd
		pending                *redis.XPendingCmd
	}
	cs := make([]cmds, len(queues))
	pipe := q.rdb.Pipeline()
	for i, qu := range queues {
		if err := checkQueue(qu); err != nil {
			return nil, fmt.Errorf("queue stats: %w", err)
		}
		cs[i] = cmds{
			xlen:    pipe.XLen(octx, q.keys.Stream(qu)),
			running: pipe.ZCard(octx, q.keys.Running(qu)),
			delayed: pipe.ZCard(octx, q.keys.Delayed(qu)),
			pending: pipe.XPending(octx, q.keys.Stream(qu), group),
		}
	}
	_, _ = pipe.Exec(octx)
	out := make([]QueueStats, len(queues))
	for i, c := range cs {
		for _, cmd := range []redis.Cmder{c.xlen, c.running, c.delayed, c.pending} {
			if err := cmd.Err(); err != nil && err != redis.Nil && !isNoGroup(err) {
				return nil, fmt.Errorf("stats of queue %s: %w", queues[i], err)
			}
		}
		var pending int64
		if p := c.pending.Val(); p != nil {
			pending = p.Count
		}
		out[i] = QueueStats{Queue: queues[i], Waiting: max(c.xlen.Val()-pending, 0), Pending: pending,
			Running: c.running.Val(), Delayed: c.delayed.Val()}
	}
	return out, nil
}

// Running returns the running runs of the given queues (all known queues
// when none given), oldest first per queue.
func (q *Queue) Running(ctx context.Context, queues ...string) ([]*Run, error) {
	if len(queues) == 0 {
		var err error
		if queues, err = q.Queues(ctx); err != nil {
			return nil, err
		}
	}
	octx, cancel := q.op(ctx)
	defer cancel()
	var out []*Run
	for _, qu := range queues {
		ids, err := q.rdb.ZRange(octx, q.keys.Running(qu), 0, -1).Result()
		if err != nil {
			return nil, fmt.Errorf("list running runs of %s: %w", qu, err)
		}
		if len(ids) == 0 {
			continue
		}
		pipe := q.rdb.Pipeline()
		hs := make([]*redis.MapStringStringCmd, len(ids))
		for i, id := range ids {
			hs[i] = pipe.HGetAll(octx, q.keys.Run(qu, id))
		}
		if _, err := pipe.Exec(octx); err != nil {
			return nil, fmt.Errorf("read running runs of %s: %w", qu, err)
		}
		for _, h := range hs {
			r, err := decodeRun(h.Val())
			if err != nil {
				return nil, err
			}
			if r != nil && r.State == StateRunning {
				out = append(out, r)
			}
		}
	}
	return out, nil
}
