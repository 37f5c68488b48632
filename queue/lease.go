package queue

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Replay restarts consumer's own pending entries of queue: the runs a
// previous process with the same name had claimed when it died. Call it once
// when a worker starts, before claiming new runs; a run whose lease is still
// held under the same consumer name is taken over at once, without waiting
// for the lease to expire.
func (q *Queue) Replay(ctx context.Context, consumer, queue string) ([]*Delivery, error) {
	if err := checkQueue(queue); err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	var out []*Delivery
	from := "0"
	for {
		msgs, err := q.readGroup(ctx, consumer, queue, from, maxBatch, -1)
		if err != nil || len(msgs) == 0 {
			return out, err
		}
		ds, err := q.startBatch(ctx, consumer, queue, msgs, modeReplay, len(msgs), nil)
		out = append(out, ds...)
		if err != nil {
			return out, err
		}
		from = msgs[len(msgs)-1].ID
	}
}

// Reclaim takes over up to n runs of queue whose lease has expired (their
// worker died or lost Redis for longer than the lease) and starts them for
// consumer. A run whose worker keeps renewing its lease is never taken,
// however long it runs. Runs started too often become dead instead.
func (q *Queue) Reclaim(ctx context.Context, consumer, queue string, n int) ([]*Delivery, error) {
	if err := checkQueue(queue); err != nil {
		return nil, fmt.Errorf("reclaim: %w", err)
	}
	stream := q.keys.Stream(queue)
	octx, cancel := q.op(ctx)
	defer cancel()
	pend, err := q.rdb.XPendingExt(octx, &redis.XPendingExtArgs{
		Stream: stream, Group: group, Idle: q.opt.leaseTTL, Start: "-", End: "+", Count: int64(min(max(4*n, 10), maxBatch)),
	}).Result()
	if isNoGroup(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list pending runs of %s: %w", queue, err)
	}
	if len(pend) == 0 {
		return nil, nil
	}
	pipe := q.rdb.Pipeline()
	ranges := make([]*redis.XMessageSliceCmd, len(pend))
	for i, p := range pend {
		ranges[i] = pipe.XRange(octx, stream, p.ID, p.ID)
	}
	if _, err := pipe.Exec(octx); err != nil {
		return nil, fmt.Errorf("read pending runs of %s: %w", queue, err)
	}
	msgs := make([]redis.XMessage, len(pend))
	for i, p := range pend {
		msgs[i] = redis.XMessage{ID: p.ID}
		if ms := ranges[i].Val(); len(ms) == 1 {
			msgs[i] = ms[0]
		}
	}
	return q.startBatch(ctx, consumer, queue, msgs, modeReclaim, n, nil)
}

// Renew extends the leases of the given in-flight deliveries in one round
// trip. It returns the deliveries whose lease was lost (the worker must stop
// them and not report a result) and those killed meanwhile (the worker must
// stop them and Complete them as killed).
func (q *Queue) Renew(ctx context.Context, ds ...*Delivery) (lost, killed []*Delivery, err error) {
	if len(ds) == 0 {
		return nil, nil, nil
	}
	octx, cancel := q.op(ctx)
	defer cancel()
	calls := make([]*scriptCall, len(ds))
	for i, d := range ds {
		calls[i] = &scriptCall{script: scriptRenew,
			keys: []string{q.keys.Run(d.Queue, d.Run.ID), q.keys.Lease(d.Queue, d.Run.ID),
				q.keys.Stream(d.Queue), q.keys.Cancel(d.Queue, d.Run.ID)},
			args: []any{d.token, d.Consumer, q.opt.leaseTTL.Milliseconds(), group, d.EntryID, q.opt.runTTL.Milliseconds()},
		}
	}
	if err := q.execPipe(octx, nil, calls); err != nil {
		return nil, nil, fmt.Errorf("renew %d leases: %w", len(ds), err)
	}
	for i, c := range calls {
		v, err := c.cmd.Int()
		if err != nil {
			return nil, nil, fmt.Errorf("renew lease of run %s: %w", ds[i].Run.ID, err)
		}
		switch v {
		case 0:
			lost = append(lost, ds[i])
		case 2:
			killed = append(killed, ds[i])
		}
	}
	return lost, killed, nil
}
