package queue

import (
	"context"
	"fmt"
)

// HistoryCap is how many records the apply history keeps (the newest).
const HistoryCap = 200

// History is the capped list of the agent's apply records (JSON from
// package agent), newest first, in the {agent} slot; it has no TTL, so the
// history outlives the agent process.
func (k Keys) History() string { return k.prefix + "{agent}:applies" }

// AppendApply puts one apply record at the head of the history and trims
// it to HistoryCap, in one transaction.
func (q *Queue) AppendApply(ctx context.Context, record []byte) error {
	octx, cancel := q.op(ctx)
	defer cancel()
	p := q.rdb.TxPipeline()
	p.LPush(octx, q.keys.History(), record)
	p.LTrim(octx, q.keys.History(), 0, HistoryCap-1)
	if _, err := p.Exec(octx); err != nil {
		return fmt.Errorf("record the apply in its history: %w", err)
	}
	return nil
}

// Applies returns the last n apply records, newest first.
func (q *Queue) Applies(ctx context.Context, n int) ([][]byte, error) {
	if n <= 0 {
		return nil, nil
	}
	octx, cancel := q.op(ctx)
	defer cancel()
	vs, err := q.rdb.LRange(octx, q.keys.History(), 0, int64(n-1)).Result()
	if err != nil {
		return nil, fmt.Errorf("read the apply history: %w", err)
	}
	out := make([][]byte, len(vs))
	for i, v := range vs {
		out[i] = []byte(v)
	}
	return out, nil
}
