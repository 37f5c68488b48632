package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// LogLine is one line of a run's output.
type LogLine struct {
	ID     string    // stream entry id; pass the last one as Logs' from
	Stream string    // "stdout" or "stderr"
	Text   string    // without the newline
	Time   time.Time // when it was appended
}

// AppendLog appends lines of one output stream ("stdout", "stderr", the
// worker's own "worker") to the run's log, which keeps about the last
// WithLogCap lines and expires WithLogTTL after the last append. It is for
// a few lines of the worker's own, outside the log budget: task output goes
// through RunLog.
func (q *Queue) AppendLog(ctx context.Context, runID, stream string, lines ...string) error {
	if len(lines) == 0 {
		return nil
	}
	key := q.keys.Log(runID)
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	octx, cancel := q.op(ctx)
	defer cancel()
	pipe := q.rdb.Pipeline()
	for _, l := range lines {
		pipe.XAdd(octx, &redis.XAddArgs{
			Stream: key, MaxLen: int64(q.opt.logCap), Approx: true,
			Values: []any{"s", stream, "t", now, "l", l},
		})
	}
	pipe.PExpire(octx, key, q.opt.logTTL)
	if _, err := pipe.Exec(octx); err != nil {
		return fmt.Errorf("append %d log lines of run %s: %w", len(lines), runID, err)
	}
	return nil
}

// Logs returns the lines of a run's log after entry id from ("" or "0": from
// the start), at most 1000 at a time, and the id to pass next time. With
// block > 0 it waits that long for new lines when there are none: a
// follower (cl task logs --follow) calls it in a loop until the run is
// terminal and no lines come back.
func (q *Queue) Logs(ctx context.Context, runID, from string, block time.Duration) ([]LogLine, string, error) {
	if from == "" {
		from = "0"
	}
	b := time.Duration(-1)
	if block > 0 {
		b = block
	}
	octx, cancel := context.WithTimeout(ctx, q.opt.opTimeout+max(block, 0))
	defer cancel()
	res, err := q.rdb.XRead(octx, &redis.XReadArgs{
		Streams: []string{q.keys.Log(runID), from}, Count: 1000, Block: b,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, from, nil
	}
	if err != nil {
		return nil, from, fmt.Errorf("read logs of run %s: %w", runID, err)
	}
	cut, err := q.readCut(ctx, runID)
	if err != nil {
		return nil, from, err
	}
	var out []LogLine
	next := from
	for _, s := range res {
		for _, m := range s.Messages {
			st, _ := m.Values["s"].(string)
			l, _ := m.Values["l"].(string)
			t, _ := m.Values["t"].(string)
			if cut.lines > 0 && next == cut.after { // lines were cut between the head and m
				out = append(out, LogLine{ID: cut.after, Stream: "worker", Text: cut.marker(), Time: fromMS(t)})
			}
			out = append(out, LogLine{ID: m.ID, Stream: st, Text: l, Time: fromMS(t)})
			next = m.ID
		}
	}
	return out, next, nil
}
