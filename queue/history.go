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

// DeliveryLedger is the capped list of the agent's webhook deliveries (JSON
// from package agent: never a body or a secret), newest first, in the
// {agent} slot; no TTL, so the ledger outlives the agent process.
func (k Keys) DeliveryLedger() string { return k.prefix + "{agent}:deliveries" }

// AppendApply puts one apply record at the head of the history and trims
// it to HistoryCap, in one transaction.
func (q *Queue) AppendApply(ctx context.Context, record []byte) error {
	if err := q.pushCapped(ctx, q.keys.History(), HistoryCap, record); err != nil {
		return fmt.Errorf("record the apply in its history: %w", err)
	}
	return nil
}

// Applies returns the last n apply records, newest first.
func (q *Queue) Applies(ctx context.Context, n int) ([][]byte, error) {
	out, err := q.newest(ctx, q.keys.History(), n)
	if err != nil {
		return nil, fmt.Errorf("read the apply history: %w", err)
	}
	return out, nil
}

// AppendDeliveries puts webhook delivery records (oldest first) at the head
// of the delivery ledger and trims it to keep (at least 1), in one
// transaction.
func (q *Queue) AppendDeliveries(ctx context.Context, records [][]byte, keep int) error {
	if len(records) == 0 {
		return nil
	}
	if err := q.pushCapped(ctx, q.keys.DeliveryLedger(), max(keep, 1), records...); err != nil {
		return fmt.Errorf("record %d webhook deliveries: %w", len(records), err)
	}
	return nil
}

// Deliveries returns the last n webhook delivery records, newest first.
func (q *Queue) Deliveries(ctx context.Context, n int) ([][]byte, error) {
	out, err := q.newest(ctx, q.keys.DeliveryLedger(), n)
	if err != nil {
		return nil, fmt.Errorf("read the webhook delivery ledger: %w", err)
	}
	return out, nil
}

// pushCapped LPUSHes records (the last one ends up first) and trims the
// list to its newest keep, in one MULTI.
func (q *Queue) pushCapped(ctx context.Context, key string, keep int, records ...[]byte) error {
	octx, cancel := q.op(ctx)
	defer cancel()
	vals := make([]any, len(records))
	for i, r := range records {
		vals[i] = r
	}
	p := q.rdb.TxPipeline()
	p.LPush(octx, key, vals...)
	p.LTrim(octx, key, 0, int64(keep-1))
	_, err := p.Exec(octx)
	return err
}

// newest reads the first n elements of a list pushed by pushCapped.
func (q *Queue) newest(ctx context.Context, key string, n int) ([][]byte, error) {
	if n <= 0 {
		return nil, nil
	}
	octx, cancel := q.op(ctx)
	defer cancel()
	vs, err := q.rdb.LRange(octx, key, 0, int64(n-1)).Result()
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(vs))
	for i, v := range vs {
		out[i] = []byte(v)
	}
	return out, nil
}
