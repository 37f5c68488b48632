package queue

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Result is what a worker reports when a run ends.
type Result struct {
	ExitCode int
	// Err is the failure, nil when the task succeeded. A non-zero ExitCode
	// with a nil Err is a failure too.
	Err error
	// Killed reports that the task was stopped because of Kill.
	Killed bool
	// Permanent marks a failure that a retry cannot fix (a task refused by
	// the worker, invalid parameters, a run skipped by its schedule's
	// concurrency policy): the run ends failed at once, whatever retries it
	// has left.
	Permanent bool
	// Lines are appended to the run's log with the result, in the same
	// round trip: the worker's closing note, or a built-in task's output.
	Lines []LogLine
}

func (r Result) outcome() (State, string) {
	switch {
	case r.Killed:
		return StateKilled, "killed while running"
	case r.Err != nil:
		return StateFailed, r.Err.Error()
	case r.ExitCode != 0:
		return StateFailed, fmt.Sprintf("exit code %d", r.ExitCode)
	}
	return StateSucceeded, ""
}

// Completion is one result to record with CompleteAll.
type Completion struct {
	Delivery *Delivery
	Result   Result
}

// Recorded is what CompleteAll stored for one run.
type Recorded struct {
	State    State  // succeeded, failed, killed, or retrying
	ExitCode int    // as reported
	Reason   string // why it failed, or was killed
	Attempt  int    // the attempt that comes next when State is retrying
	// Err is nil when the result was stored; it wraps ErrLeaseLost when the
	// delivery no longer held the run (the result was dropped).
	Err error
}

// Complete records the result of a delivery and removes its stream entry, in
// one atomic step: a completed run is never started again, and a run is
// recorded succeeded at most once. A failed run with retries left (and not
// Permanent) goes to retrying and comes back after its backoff. Complete
// returns the updated run, or an error wrapping ErrLeaseLost when the
// delivery no longer holds the run.
func (q *Queue) Complete(ctx context.Context, d *Delivery, res Result) (*Run, error) {
	octx, cancel := q.op(ctx)
	defer cancel()
	calls, err := q.completeCalls(octx, []Completion{{d, res}}, true, false)
	if err != nil {
		return nil, err
	}
	state, _ := res.outcome()
	reply, err := calls[0].cmd.Slice()
	if err != nil {
		return nil, fmt.Errorf("complete run %s as %s: %w", d.Run.ID, state, err)
	}
	item, _ := reply[0].([]any)
	if len(item) < 2 || item[0] != "ok" {
		return nil, fmt.Errorf("complete run %s as %s (now %v): %w", d.Run.ID, state, item[1:], ErrLeaseLost)
	}
	return decodeRun(pairsToMap(item[1:]))
}

// CompleteAll records several results like Complete, in one round trip (a
// script call per queue and maxBatch runs), with their log lines. It returns
// one Recorded per completion, in order; the error is a failure to reach
// Redis, after which any of the results may or may not be stored. Unlike
// Complete, it is safe to repeat: a result that an earlier call (or a
// go-redis retry of this one after a broken connection) stored for the same
// delivery is answered as recorded, not as lost.
func (q *Queue) CompleteAll(ctx context.Context, cs []Completion) ([]Recorded, error) {
	return q.completeAll(ctx, cs, true)
}

func (q *Queue) completeAll(ctx context.Context, cs []Completion, again bool) ([]Recorded, error) {
	if len(cs) == 0 {
		return nil, nil
	}
	octx, cancel := q.op(ctx)
	defer cancel()
	calls, err := q.completeCalls(octx, cs, false, again)
	if err != nil {
		return nil, err
	}
	return completedRuns(calls, cs)
}

// completedRuns reads the replies of executed complete calls.
func completedRuns(calls []*scriptCall, cs []Completion) ([]Recorded, error) {
	out := make([]Recorded, 0, len(cs))
	for _, c := range calls {
		replies, err := c.cmd.Slice()
		if err != nil {
			return nil, fmt.Errorf("complete %d runs: %w", len(cs), err)
		}
		for _, v := range replies {
			out = append(out, recorded(v))
		}
	}
	for i := range out {
		out[i].ExitCode = cs[i].Result.ExitCode
		if out[i].Err != nil {
			out[i].Err = fmt.Errorf("complete run %s: %w", cs[i].Delivery.Run.ID, out[i].Err)
		}
	}
	return out, nil
}

func recorded(v any) Recorded {
	item, _ := v.([]any)
	if len(item) < 2 || item[0] != "ok" {
		now := ""
		if len(item) > 1 {
			now = fmt.Sprint(item[1])
		}
		return Recorded{Err: fmt.Errorf("run is %q: %w", now, ErrLeaseLost)}
	}
	str := func(i int) string {
		if i < len(item) {
			s, _ := item[i].(string)
			return s
		}
		return ""
	}
	return Recorded{State: State(str(1)), Reason: str(3), Attempt: atoi(str(4))}
}

// completeCalls writes the completions' log lines and runs the complete
// script, grouped by queue, keeping the order of cs across the calls. The
// log lines go first (before the run turns terminal, for followers); on a
// single server that is one pipeline, on Cluster two.
func (q *Queue) completeCalls(ctx context.Context, cs []Completion, full, again bool) ([]*scriptCall, error) {
	pre, calls, err := q.completeParts(ctx, cs, full, again)
	if err != nil {
		return nil, err
	}
	if err := q.execPipe(ctx, pre, calls); err != nil {
		return nil, fmt.Errorf("complete %d runs: %w", len(cs), err)
	}
	return calls, nil
}

// completeParts builds what completing cs takes: the commands that go
// before the scripts in the pipeline (log lines, pointer TTLs) and the
// script calls. On Cluster the log lines are written first, on their own.
func (q *Queue) completeParts(ctx context.Context, cs []Completion, full, again bool) (func(redis.Pipeliner), []*scriptCall, error) {
	calls := q.completeScripts(cs, full, again)
	logs := func(p redis.Pipeliner) { q.queueLogLines(ctx, p, cs) }
	if q.isCluster() && hasLines(cs) {
		p := q.rdb.Pipeline()
		logs(p)
		if _, err := p.Exec(ctx); err != nil {
			return nil, nil, fmt.Errorf("write log lines of %d runs: %w", len(cs), err)
		}
		logs = nil
	}
	pre := func(p redis.Pipeliner) {
		if logs != nil {
			logs(p)
		}
		// The run → queue pointer must live as long as the record, whose
		// TTL starts again now: it was set at enqueue to outlive a record
		// completed within a tenth of the TTL, so only older runs renew it.
		for _, c := range cs {
			if time.Since(c.Delivery.Run.CreatedAt) > q.opt.runTTL/10 {
				p.PExpire(ctx, q.keys.Where(c.Delivery.Run.ID), q.pointerTTL())
			}
		}
	}
	return pre, calls, nil
}

// completeScripts builds one complete call per run of consecutive
// completions of the same queue (at most maxBatch each).
func (q *Queue) completeScripts(cs []Completion, full, again bool) []*scriptCall {
	var calls []*scriptCall
	var cur *scriptCall
	curQueue, inCur := "", 0
	now := time.Now().UnixMilli()
	for _, c := range cs {
		d := c.Delivery
		if cur == nil || d.Queue != curQueue || inCur == maxBatch {
			fullArg, againArg := "0", "0"
			if full {
				fullArg = "1"
			}
			if again {
				againArg = "1"
			}
			cur = &scriptCall{script: scriptComplete,
				keys: []string{q.keys.Stream(d.Queue), q.keys.Running(d.Queue), q.keys.Delayed(d.Queue), q.keys.Timings(d.Queue), q.keys.Finished(d.Queue)},
				args: []any{group, now, q.opt.runTTL.Milliseconds(), q.opt.backoff.Milliseconds(),
					q.opt.backoffMax.Milliseconds(), fullArg, againArg, TimingsWindow}}
			calls, curQueue, inCur = append(calls, cur), d.Queue, 0
		}
		state, reason := c.Result.outcome()
		permanent := "0"
		if c.Result.Permanent {
			permanent = "1"
		}
		id := d.Run.ID
		cur.keys = append(cur.keys, q.keys.Run(d.Queue, id), q.keys.Lease(d.Queue, id), q.keys.Cancel(d.Queue, id))
		cur.args = append(cur.args, id, d.token, d.EntryID, string(state), c.Result.ExitCode, reason, permanent)
		inCur++
	}
	return calls
}

func hasLines(cs []Completion) bool {
	for _, c := range cs {
		if len(c.Result.Lines) > 0 {
			return true
		}
	}
	return false
}

// queueLogLines queues the XADDs of the completions' log lines.
func (q *Queue) queueLogLines(ctx context.Context, p redis.Pipeliner, cs []Completion) {
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	for _, c := range cs {
		if len(c.Result.Lines) == 0 {
			continue
		}
		key := q.keys.Log(c.Delivery.Run.ID)
		for _, l := range c.Result.Lines {
			p.XAdd(ctx, &redis.XAddArgs{Stream: key, MaxLen: int64(q.opt.logCap), Approx: true,
				Values: []any{"s", l.Stream, "t", now, "l", l.Text}})
		}
		p.PExpire(ctx, key, q.opt.logTTL)
	}
}

// Release hands a delivery back without a result: its lease is deleted, its
// stream entry replaced by a fresh one, and the delivery is not counted
// against the run's max deliveries. The run is queued again at the tail of
// its queue: another worker of a role queue may claim it at once, and a
// host-queue run is taken by the host's next worker process (or by this one
// if it goes on claiming). A worker stopping before its runs finish
// releases them. It returns an error wrapping ErrLeaseLost when the delivery
// no longer holds the run.
func (q *Queue) Release(ctx context.Context, d *Delivery) error {
	id := d.Run.ID
	keys := []string{q.keys.Run(d.Queue, id), q.keys.Lease(d.Queue, id), q.keys.Stream(d.Queue), q.keys.Running(d.Queue)}
	octx, cancel := q.op(ctx)
	defer cancel()
	res, err := scriptRelease.Run(octx, q.rdb, keys, id, d.token, d.EntryID, group, q.opt.runTTL.Milliseconds()).StringSlice()
	if err != nil {
		return fmt.Errorf("release run %s to %s: %w", id, d.Queue, err)
	}
	if res[0] != "ok" {
		return fmt.Errorf("release run %s to %s (now %q): %w", id, d.Queue, res[1], ErrLeaseLost)
	}
	return nil
}
