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

// Delivery is a started run handed to one worker. While the worker holds it,
// it must Renew the lease (every LeaseTTL/3) and finally Complete it.
type Delivery struct {
	Queue    string // the queue it came from
	EntryID  string // its stream entry
	Consumer string // the worker (host name) holding the lease
	Run      *Run   // the run as it was when started (State running)
	token    string // fencing token of this start
}

// Result is what a worker reports when a run ends.
type Result struct {
	ExitCode int
	// Err is the failure, nil when the task succeeded. A non-zero ExitCode
	// with a nil Err is a failure too.
	Err error
	// Killed reports that the task was stopped because of Kill.
	Killed bool
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

type startMode string

const (
	modeNew     startMode = "new"     // an entry read with ">"
	modeReplay  startMode = "replay"  // the consumer's own pending entry, after a restart
	modeReclaim startMode = "reclaim" // an entry whose lease expired, taken over
)

// Claim reads up to n new runs from queues for consumer, starts them (state
// running, lease taken) and returns them. Runs whose retry backoff has
// elapsed are moved back into their queue first. When no run is available
// it waits up to block (0: do not wait); with several queues the wait is
// split between them (Redis Cluster cannot block on streams of different
// slots), so a worker should rather claim each queue in its own goroutine,
// as Consume does. Runs killed before they started are finished as killed and
// not returned.
func (q *Queue) Claim(ctx context.Context, consumer string, queues []string, n int, block time.Duration) ([]*Delivery, error) {
	if err := checkName("consumer", consumer); err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	n = max(n, 1)
	for _, qu := range queues {
		if err := checkQueue(qu); err != nil {
			return nil, fmt.Errorf("claim: %w", err)
		}
		if err := q.promote(ctx, qu); err != nil {
			return nil, err
		}
	}
	var out []*Delivery
	for _, qu := range queues {
		if len(out) >= n {
			break
		}
		ds, err := q.readNew(ctx, consumer, qu, n-len(out), -1)
		if err != nil {
			return out, err
		}
		out = append(out, ds...)
	}
	if len(out) > 0 || block <= 0 || len(queues) == 0 {
		return out, nil
	}
	per := block / time.Duration(len(queues))
	for _, qu := range queues {
		ds, err := q.readNew(ctx, consumer, qu, n, max(per, time.Millisecond))
		if err != nil || len(ds) > 0 {
			return ds, err
		}
	}
	return nil, nil
}

// readNew reads with ">" and starts what it got; block < 0 does not block.
func (q *Queue) readNew(ctx context.Context, consumer, queue string, n int, block time.Duration) ([]*Delivery, error) {
	msgs, err := q.readGroup(ctx, consumer, queue, ">", n, block)
	if err != nil {
		return nil, err
	}
	return q.startAll(ctx, consumer, queue, msgs, modeNew)
}

func (q *Queue) readGroup(ctx context.Context, consumer, queue, from string, n int, block time.Duration) ([]redis.XMessage, error) {
	stream := q.keys.Stream(queue)
	for try := 0; ; try++ {
		octx, cancel := context.WithTimeout(ctx, q.opt.opTimeout+max(block, 0))
		res, err := q.rdb.XReadGroup(octx, &redis.XReadGroupArgs{
			Group: group, Consumer: consumer, Streams: []string{stream, from},
			Count: int64(n), Block: block,
		}).Result()
		cancel()
		if errors.Is(err, redis.Nil) {
			return nil, nil
		}
		if err != nil && isNoGroup(err) && try == 0 {
			if err := q.ensureGroup(ctx, stream); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read queue %s as %s: %w", queue, consumer, err)
		}
		if len(res) == 0 {
			return nil, nil
		}
		return res[0].Messages, nil
	}
}

// EnsureQueues creates the consumer groups of queues (idempotent). Claim
// does it on demand; a worker calls it at start so that nothing enqueued
// before its first read is missed.
func (q *Queue) EnsureQueues(ctx context.Context, queues ...string) error {
	for _, qu := range queues {
		if err := checkQueue(qu); err != nil {
			return err
		}
		if err := q.ensureGroup(ctx, q.keys.Stream(qu)); err != nil {
			return err
		}
	}
	return nil
}

// ensureGroup creates the group at id 0, so entries added before it exist
// are delivered too.
func (q *Queue) ensureGroup(ctx context.Context, stream string) error {
	octx, cancel := q.op(ctx)
	defer cancel()
	err := q.rdb.XGroupCreateMkStream(octx, stream, group, "0").Err()
	if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("create consumer group of %s: %w", stream, err)
	}
	return nil
}

func isNoGroup(err error) bool { return err != nil && strings.Contains(err.Error(), "NOGROUP") }

// startAll runs the start script for each entry and keeps the runs started.
func (q *Queue) startAll(ctx context.Context, consumer, queue string, msgs []redis.XMessage, mode startMode) ([]*Delivery, error) {
	var out []*Delivery
	for _, m := range msgs {
		d, err := q.start(ctx, consumer, queue, m, mode)
		if err != nil {
			return out, err
		}
		if d != nil {
			out = append(out, d)
		}
	}
	return out, nil
}

func (q *Queue) start(ctx context.Context, consumer, queue string, m redis.XMessage, mode startMode) (*Delivery, error) {
	id, _ := m.Values["run"].(string)
	attempt, _ := m.Values["attempt"].(string)
	stream := q.keys.Stream(queue)
	octx, cancel := q.op(ctx)
	defer cancel()
	if id == "" { // deleted entry still pending, or foreign data: just ack it
		if err := q.rdb.XAck(octx, stream, group, m.ID).Err(); err != nil {
			return nil, fmt.Errorf("ack empty entry %s of %s: %w", m.ID, queue, err)
		}
		return nil, nil
	}
	token := NewID()
	now := time.Now().UnixMilli()
	keys := []string{q.keys.Run(queue, id), q.keys.Lease(queue, id), q.keys.Cancel(queue, id),
		stream, q.keys.Running(queue)}
	res, err := scriptStart.Run(octx, q.rdb, keys, id, m.ID, attempt, consumer, token,
		q.opt.leaseTTL.Milliseconds(), now, q.opt.maxDeliveries, q.opt.runTTL.Milliseconds(),
		group, string(mode), q.opt.leaseTTL.Milliseconds()).Slice()
	if err != nil {
		return nil, fmt.Errorf("start run %s from %s: %w", id, queue, err)
	}
	status := fmt.Sprint(res[0])
	if status != "started" {
		q.log.Debug("run not started", "run", id, "queue", queue, "mode", mode, "status", status, "detail", res[1:])
		return nil, nil
	}
	r, err := decodeRun(pairsToMap(res[1:]))
	if err != nil || r == nil {
		return nil, fmt.Errorf("start run %s: bad record: %v", id, err)
	}
	return &Delivery{Queue: queue, EntryID: m.ID, Consumer: consumer, Run: r, token: token}, nil
}

// promote moves the queue's due retries back into its stream.
func (q *Queue) promote(ctx context.Context, queue string) error {
	octx, cancel := q.op(ctx)
	defer cancel()
	due, err := q.rdb.ZRangeByScore(octx, q.keys.Delayed(queue), &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(time.Now().UnixMilli(), 10), Count: 100,
	}).Result()
	if err != nil {
		return fmt.Errorf("list due retries of %s: %w", queue, err)
	}
	for _, member := range due {
		id, attempt, _ := strings.Cut(member, "/")
		keys := []string{q.keys.Delayed(queue), q.keys.Stream(queue), q.keys.Run(queue, id)}
		if err := scriptPromote.Run(octx, q.rdb, keys, member, id, attempt).Err(); err != nil {
			return fmt.Errorf("requeue retry of run %s in %s: %w", id, queue, err)
		}
	}
	return nil
}

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
		msgs, err := q.readGroup(ctx, consumer, queue, from, 100, -1)
		if err != nil || len(msgs) == 0 {
			return out, err
		}
		ds, err := q.startAll(ctx, consumer, queue, msgs, modeReplay)
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
		Stream: stream, Group: group, Idle: q.opt.leaseTTL, Start: "-", End: "+", Count: int64(min(max(4*n, 10), 100)),
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
	var out []*Delivery
	for i, p := range pend {
		if len(out) >= n {
			break
		}
		msg := redis.XMessage{ID: p.ID}
		if ms := ranges[i].Val(); len(ms) == 1 {
			msg = ms[0]
		}
		d, err := q.start(ctx, consumer, queue, msg, modeReclaim)
		if err != nil {
			return out, err
		}
		if d != nil {
			out = append(out, d)
		}
	}
	return out, nil
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
	calls := make([]scriptCall, len(ds))
	for i, d := range ds {
		calls[i] = scriptCall{
			keys: []string{q.keys.Run(d.Queue, d.Run.ID), q.keys.Lease(d.Queue, d.Run.ID),
				q.keys.Stream(d.Queue), q.keys.Cancel(d.Queue, d.Run.ID)},
			args: []any{d.token, d.Consumer, q.opt.leaseTTL.Milliseconds(), group, d.EntryID, q.opt.runTTL.Milliseconds()},
		}
	}
	cmds, err := q.runBatch(octx, scriptRenew, calls)
	if err != nil {
		return nil, nil, fmt.Errorf("renew %d leases: %w", len(ds), err)
	}
	for i, c := range cmds {
		switch v, _ := c.Int(); v {
		case 0:
			lost = append(lost, ds[i])
		case 2:
			killed = append(killed, ds[i])
		}
	}
	return lost, killed, nil
}

type scriptCall struct {
	keys []string
	args []any
}

// runBatch runs a script many times in one pipeline (EVALSHA, then EVAL for
// the calls that met an empty script cache, e.g. after a Redis restart).
func (q *Queue) runBatch(ctx context.Context, s *redis.Script, calls []scriptCall) ([]*redis.Cmd, error) {
	cmds := make([]*redis.Cmd, len(calls))
	pipe := q.rdb.Pipeline()
	for i, c := range calls {
		cmds[i] = s.EvalSha(ctx, pipe, c.keys, c.args...)
	}
	_, _ = pipe.Exec(ctx)
	var again []int
	for i, c := range cmds {
		if err := c.Err(); err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
			again = append(again, i)
		}
	}
	if len(again) > 0 {
		pipe = q.rdb.Pipeline()
		for _, i := range again {
			cmds[i] = s.Eval(ctx, pipe, calls[i].keys, calls[i].args...)
		}
		_, _ = pipe.Exec(ctx)
	}
	for _, c := range cmds {
		if err := c.Err(); err != nil {
			return nil, err
		}
	}
	return cmds, nil
}

// Complete records the result of a delivery and removes its stream entry, in
// one atomic step: a completed run is never started again, and a run is
// recorded succeeded at most once. A failed run with retries left goes to
// retrying and comes back after its backoff. Complete returns the updated run,
// or an error wrapping ErrLeaseLost when the delivery no longer holds the run.
func (q *Queue) Complete(ctx context.Context, d *Delivery, res Result) (*Run, error) {
	state, reason := res.outcome()
	id := d.Run.ID
	keys := []string{q.keys.Run(d.Queue, id), q.keys.Lease(d.Queue, id), q.keys.Stream(d.Queue),
		q.keys.Running(d.Queue), q.keys.Delayed(d.Queue), q.keys.Cancel(d.Queue, id)}
	octx, cancel := q.op(ctx)
	defer cancel()
	out, err := scriptComplete.Run(octx, q.rdb, keys, id, d.token, d.EntryID, group,
		time.Now().UnixMilli(), string(state), res.ExitCode, reason, q.opt.runTTL.Milliseconds(),
		q.opt.backoff.Milliseconds(), q.opt.backoffMax.Milliseconds()).Slice()
	if err != nil {
		return nil, fmt.Errorf("complete run %s as %s: %w", id, state, err)
	}
	if fmt.Sprint(out[0]) == "lost" {
		return nil, fmt.Errorf("complete run %s as %s (now %v): %w", id, state, out[1], ErrLeaseLost)
	}
	q.rdb.Expire(octx, q.keys.Where(id), q.opt.runTTL) // best effort: keep Get working as long as the record
	r, err := decodeRun(pairsToMap(out[1:]))
	if err != nil {
		return nil, err
	}
	return r, nil
}
