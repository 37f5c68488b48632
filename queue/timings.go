package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// TimingsWindow is about how many executions the timings of one queue (and
// of one kind of operation: apply, deploy) keep: metrics are computed over
// this window of the most recent ones.
const TimingsWindow = 10000

// Timing is one recorded execution: of a task (the complete script records
// one per result) or of an operation (RecordTiming: an apply, a deploy).
type Timing struct {
	Name    string        `json:"name"`    // the task, or the operation's kind
	Took    time.Duration `json:"took"`    // from start to result
	Outcome string        `json:"outcome"` // succeeded, failed, killed (tasks); ok, failed (operations)
	At      time.Time     `json:"at"`
}

// Timings is the capped stream of a queue's task executions, in the slot of
// the queue (the complete script appends to it).
func (k Keys) Timings(queue string) string { return k.prefix + "{" + queue + "}:timings" }

// OpTimings is the capped stream of one kind of operation's durations.
func (k Keys) OpTimings(kind string) string { return k.prefix + "{metrics}:timings:" + kind }

// RecordTiming records one operation of kind (apply, deploy) that took d.
func (q *Queue) RecordTiming(ctx context.Context, kind string, d time.Duration, ok bool) error {
	out := "ok"
	if !ok {
		out = "failed"
	}
	octx, cancel := q.op(ctx)
	defer cancel()
	err := q.rdb.XAdd(octx, &redis.XAddArgs{Stream: q.keys.OpTimings(kind), MaxLen: TimingsWindow, Approx: true,
		Values: []any{"task", kind, "ms", d.Milliseconds(), "out", out}}).Err()
	if err != nil {
		return fmt.Errorf("record %s timing: %w", kind, err)
	}
	return nil
}

// TaskTimings returns the recorded task executions of a queue, newest
// first, at most TimingsWindow.
func (q *Queue) TaskTimings(ctx context.Context, queue string) ([]Timing, error) {
	return q.timings(ctx, q.keys.Timings(queue))
}

// OpTimingsOf returns the recorded operations of kind, newest first.
func (q *Queue) OpTimingsOf(ctx context.Context, kind string) ([]Timing, error) {
	return q.timings(ctx, q.keys.OpTimings(kind))
}

func (q *Queue) timings(ctx context.Context, key string) ([]Timing, error) {
	octx, cancel := q.op(ctx)
	defer cancel()
	msgs, err := q.rdb.XRevRangeN(octx, key, "+", "-", TimingsWindow).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read timings %s: %w", key, err)
	}
	out := make([]Timing, 0, len(msgs))
	for _, m := range msgs {
		name, _ := m.Values["task"].(string)
		ms, _ := m.Values["ms"].(string)
		o, _ := m.Values["out"].(string)
		n, _ := strconv.ParseInt(ms, 10, 64)
		at := time.Time{}
		msPart, _, _ := strings.Cut(m.ID, "-")
		if i, err := strconv.ParseInt(msPart, 10, 64); err == nil {
			at = time.UnixMilli(i)
		}
		out = append(out, Timing{Name: name, Took: time.Duration(n) * time.Millisecond, Outcome: o, At: at})
	}
	return out, nil
}
