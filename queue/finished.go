package queue

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// FinishedWindow is how many finished runs each queue's finished index
// keeps (the newest); older entries are trimmed by the script that adds
// one. A run's record itself lives for WithRunTTL.
const FinishedWindow = 500

// Finished is the sorted set of a queue's runs that reached a final state
// (succeeded, failed, killed, dead), scored by the finish time (unix ms),
// in the queue's slot: the start, complete and kill scripts add to it.
func (k Keys) Finished(queue string) string { return k.prefix + "{" + queue + "}:finished" }

// Finished returns the last n finished runs of the given queues (all known
// queues when none given), newest first. Runs whose record has expired are
// left out.
func (q *Queue) Finished(ctx context.Context, n int, queues ...string) ([]*Run, error) {
	if n <= 0 {
		return nil, nil
	}
	if len(queues) == 0 {
		var err error
		if queues, err = q.Queues(ctx); err != nil {
			return nil, err
		}
	}
	octx, cancel := q.op(ctx)
	defer cancel()
	type entry struct {
		queue, id string
		at        float64
	}
	pipe := q.rdb.Pipeline()
	cmds := make([]*redis.ZSliceCmd, len(queues))
	for i, qu := range queues {
		if err := checkQueue(qu); err != nil {
			return nil, fmt.Errorf("finished runs: %w", err)
		}
		cmds[i] = pipe.ZRevRangeWithScores(octx, q.keys.Finished(qu), 0, int64(n-1))
	}
	if _, err := pipe.Exec(octx); err != nil && err != redis.Nil {
		return nil, fmt.Errorf("list finished runs: %w", err)
	}
	var all []entry
	for i, c := range cmds {
		for _, z := range c.Val() {
			id, _ := z.Member.(string)
			all = append(all, entry{queues[i], id, z.Score})
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].at > all[j].at })
	all = all[:min(len(all), n)]
	if len(all) == 0 {
		return []*Run{}, nil
	}
	pipe = q.rdb.Pipeline()
	hs := make([]*redis.MapStringStringCmd, len(all))
	for i, e := range all {
		hs[i] = pipe.HGetAll(octx, q.keys.Run(e.queue, e.id))
	}
	if _, err := pipe.Exec(octx); err != nil && err != redis.Nil {
		return nil, fmt.Errorf("read finished runs: %w", err)
	}
	out := make([]*Run, 0, len(all))
	for i, h := range hs {
		r, err := decodeRun(h.Val())
		if err != nil {
			return nil, fmt.Errorf("finished run %s (finished %s): %w", all[i].id, strconv.FormatFloat(all[i].at, 'f', 0, 64), err)
		}
		if r != nil {
			out = append(out, r)
		}
	}
	return out, nil
}
