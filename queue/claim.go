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
// it must Renew the lease (every LeaseTTL/3) and finally Complete (or
// Release) it.
type Delivery struct {
	Queue    string // the queue it came from
	EntryID  string // its stream entry
	Consumer string // the worker (host name) holding the lease
	Run      *Run   // the run as it was when started (State running)
	token    string // fencing token of this start
}

type startMode string

const (
	modeNew     startMode = "new"     // an entry read with ">"
	modeReplay  startMode = "replay"  // the consumer's own pending entry, after a restart
	modeReclaim startMode = "reclaim" // an entry whose lease expired, taken over
)

// maxBatch bounds the entries one script call starts or completes.
const maxBatch = 100

// Claim reads up to n new runs from queues for consumer, starts them (state
// running, lease taken) and returns them. Runs whose retry backoff has
// elapsed are moved back into their queue as well. The queues are read in
// the given order, each without blocking, until n runs are found; when none
// is, Claim waits up to block (0: do not wait) for the first run to arrive
// on any of them. That wait is one read of all the queues on a single
// server; on Redis Cluster (streams of different slots cannot be read by one
// command) block is split between the queues. A wait that
// finds runs on several queues at once may return up to one run per queue
// more than n. Runs killed before they started are finished as killed and
// not returned.
func (q *Queue) Claim(ctx context.Context, consumer string, queues []string, n int, block time.Duration) ([]*Delivery, error) {
	if err := checkName("consumer", consumer); err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	for _, qu := range queues {
		if err := checkQueue(qu); err != nil {
			return nil, fmt.Errorf("claim: %w", err)
		}
	}
	n = max(n, 1)
	var out []*Delivery
	for _, qu := range queues {
		if len(out) >= n {
			break
		}
		ds, err := q.claimQueue(ctx, consumer, qu, n-len(out))
		out = append(out, ds...)
		if err != nil {
			return out, err
		}
	}
	if len(out) > 0 || block <= 0 || len(queues) == 0 {
		return out, nil
	}
	return q.wait(ctx, consumer, queues, n, block, nil)
}

// Want is how many runs ClaimNow may take from one queue.
type Want struct {
	Queue string
	N     int
}

// ClaimNow claims up to want.N new runs from each queue without waiting:
// one round trip reads all the queues (and lists their due retries), one
// more per queue that had runs starts them. The runs come back queue by
// queue, in the order of wants. Runs killed before they started are
// finished as killed and not returned. With a Completer (ride, may be nil),
// the results waiting in it are written in the round trip that starts the
// runs.
func (q *Queue) ClaimNow(ctx context.Context, consumer string, wants []Want, ride *Completer) ([]*Delivery, error) {
	if err := checkName("consumer", consumer); err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	for _, w := range wants {
		if err := checkQueue(w.Queue); err != nil {
			return nil, fmt.Errorf("claim: %w", err)
		}
	}
	octx, cancel := q.op(ctx)
	defer cancel()
	pipe := q.rdb.Pipeline()
	reads := make([]queueRead, len(wants))
	for i, w := range wants {
		if w.N > 0 {
			reads[i] = q.queueRead(octx, pipe, consumer, w.Queue, w.N)
		}
	}
	_, _ = pipe.Exec(octx)
	var out []*Delivery
	for i, w := range wants {
		if w.N <= 0 {
			continue
		}
		msgs, err := q.readDone(ctx, octx, consumer, w.Queue, w.N, reads[i])
		if err != nil {
			return out, err
		}
		ds, err := q.startBatch(ctx, consumer, w.Queue, msgs, modeNew, w.N, ride)
		out = append(out, ds...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// ClaimWait waits up to block for new runs on any of queues and claims up to n
// of them (one per queue more when several have runs at once). On a single
// server that is one blocking read of all the queues, which returns at once
// when runs are waiting; on Redis Cluster block is split between the queues.
// It returns when ctx ends, without waiting for the read. With a Completer
// (ride, may be nil), the results waiting in it are written in the round
// trip that starts the runs.
func (q *Queue) ClaimWait(ctx context.Context, consumer string, queues []string, n int, block time.Duration, ride *Completer) ([]*Delivery, error) {
	if err := checkName("consumer", consumer); err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	for _, qu := range queues {
		if err := checkQueue(qu); err != nil {
			return nil, fmt.Errorf("claim: %w", err)
		}
	}
	if len(queues) == 0 || block <= 0 {
		return nil, nil
	}
	return q.wait(ctx, consumer, queues, max(n, 1), block, ride)
}

func (q *Queue) wait(ctx context.Context, consumer string, queues []string, n int, block time.Duration, ride *Completer) ([]*Delivery, error) {
	if q.isCluster() || len(queues) == 1 {
		return q.claimEach(ctx, consumer, queues, n, block, ride)
	}
	return q.claimAny(ctx, consumer, queues, n, block, ride)
}

// Cluster reports whether the queue talks to a Redis Cluster, where one
// blocking read cannot wait on several queues.
func (q *Queue) Cluster() bool { return q.isCluster() }

// claimQueue promotes the queue's due retries and reads up to n new
// entries, in one round trip, then starts them in another.
func (q *Queue) claimQueue(ctx context.Context, consumer, queue string, n int) ([]*Delivery, error) {
	octx, cancel := q.op(ctx)
	defer cancel()
	pipe := q.rdb.Pipeline()
	r := q.queueRead(octx, pipe, consumer, queue, n)
	_, _ = pipe.Exec(octx)
	msgs, err := q.readDone(ctx, octx, consumer, queue, n, r)
	if err != nil {
		return nil, err
	}
	return q.startBatch(ctx, consumer, queue, msgs, modeNew, n, nil)
}

// queueRead is a queue's read in a claim pipeline: its due retries and up
// to n new entries.
type queueRead struct {
	due  *redis.StringSliceCmd
	read *redis.XStreamSliceCmd
}

func (q *Queue) queueRead(ctx context.Context, pipe redis.Pipeliner, consumer, queue string, n int) queueRead {
	return queueRead{
		due: pipe.ZRangeByScore(ctx, q.keys.Delayed(queue), &redis.ZRangeBy{
			Min: "-inf", Max: strconv.FormatInt(time.Now().UnixMilli(), 10), Count: 100,
		}),
		read: pipe.XReadGroup(ctx, q.readArgs(consumer, []string{queue}, ">", n, -1)),
	}
}

// readDone takes the entries of an executed queueRead: it creates a missing
// consumer group and reads again, and moves due retries into the stream
// and reads them too (up to n entries in all).
func (q *Queue) readDone(ctx, octx context.Context, consumer, queue string, n int, r queueRead) ([]redis.XMessage, error) {
	if err := r.due.Err(); err != nil {
		return nil, fmt.Errorf("list due retries of %s: %w", queue, err)
	}
	msgs, err := q.readResult(ctx, r.read, []string{queue})
	if errors.Is(err, errGroupCreated) {
		msgs[queue], err = q.readGroup(ctx, consumer, queue, ">", n, -1)
	}
	if err != nil {
		return nil, fmt.Errorf("read queue %s as %s: %w", queue, consumer, err)
	}
	if len(r.due.Val()) > 0 {
		if err := q.promote(octx, queue, r.due.Val()); err != nil {
			return nil, err
		}
		if len(msgs[queue]) < n { // the promoted runs are in the stream now
			more, err := q.readGroup(ctx, consumer, queue, ">", n-len(msgs[queue]), -1)
			if err != nil {
				return nil, err
			}
			msgs[queue] = append(msgs[queue], more...)
		}
	}
	return msgs[queue], nil
}

// claimAny waits up to block for new entries on any of queues (one
// blocking read of all the streams) and starts what it got.
func (q *Queue) claimAny(ctx context.Context, consumer string, queues []string, n int, block time.Duration, ride *Completer) ([]*Delivery, error) {
	per := max(n/len(queues), 1)
	cmd := q.xreadGroup(ctx, q.readArgs(consumer, queues, ">", per, block))
	msgs, err := q.readResult(ctx, cmd, queues)
	if errors.Is(err, errGroupCreated) {
		return nil, nil // the caller claims again
	}
	if err != nil {
		return nil, fmt.Errorf("wait for runs on %s as %s: %w", strings.Join(queues, ","), consumer, err)
	}
	var out []*Delivery
	for _, qu := range queues {
		ds, err := q.startBatch(ctx, consumer, qu, msgs[qu], modeNew, len(msgs[qu]), ride)
		out = append(out, ds...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// claimEach waits on the queues one after the other, block split between
// them.
func (q *Queue) claimEach(ctx context.Context, consumer string, queues []string, n int, block time.Duration, ride *Completer) ([]*Delivery, error) {
	per := max(block/time.Duration(len(queues)), time.Millisecond)
	for _, qu := range queues {
		msgs, err := q.readGroup(ctx, consumer, qu, ">", n, per)
		if err != nil {
			return nil, err
		}
		if len(msgs) > 0 {
			return q.startBatch(ctx, consumer, qu, msgs, modeNew, n, ride)
		}
	}
	return nil, nil
}

// readArgs builds an XREADGROUP of queues from id from (">" or an id);
// block < 0 does not block.
func (q *Queue) readArgs(consumer string, queues []string, from string, n int, block time.Duration) *redis.XReadGroupArgs {
	streams := make([]string, 0, 2*len(queues))
	for _, qu := range queues {
		streams = append(streams, q.keys.Stream(qu))
	}
	for range queues {
		streams = append(streams, from)
	}
	return &redis.XReadGroupArgs{Group: group, Consumer: consumer, Streams: streams, Count: int64(n), Block: block}
}

// errGroupCreated: a read met a missing consumer group (a new queue, or
// Redis restarted empty) and created it; read again.
var errGroupCreated = errors.New("consumer group created")

// readResult maps a read's streams back to their queues (the map is never
// nil).
func (q *Queue) readResult(ctx context.Context, cmd *redis.XStreamSliceCmd, queues []string) (map[string][]redis.XMessage, error) {
	res, err := cmd.Result()
	if errors.Is(err, redis.Nil) {
		return map[string][]redis.XMessage{}, nil
	}
	if isNoGroup(err) {
		if err := q.EnsureQueues(ctx, queues...); err != nil {
			return map[string][]redis.XMessage{}, err
		}
		return map[string][]redis.XMessage{}, errGroupCreated
	}
	if err != nil {
		return map[string][]redis.XMessage{}, err
	}
	byStream := make(map[string]string, len(queues))
	for _, qu := range queues {
		byStream[q.keys.Stream(qu)] = qu
	}
	out := make(map[string][]redis.XMessage, len(res))
	for _, s := range res {
		out[byStream[s.Stream]] = s.Messages
	}
	return out, nil
}

// readGroup reads one queue; block < 0 does not block.
func (q *Queue) readGroup(ctx context.Context, consumer, queue, from string, n int, block time.Duration) ([]redis.XMessage, error) {
	for try := 0; ; try++ {
		msgs, err := q.readResult(ctx, q.xreadGroup(ctx, q.readArgs(consumer, []string{queue}, from, n, block)), []string{queue})
		if errors.Is(err, errGroupCreated) && try == 0 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read queue %s as %s: %w", queue, consumer, err)
		}
		return msgs[queue], nil
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

// startBatch starts the runs of msgs (entries of one queue) in one script
// call per maxBatch entries, at most limit of them, and returns those
// started.
func (q *Queue) startBatch(ctx context.Context, consumer, queue string, msgs []redis.XMessage, mode startMode, limit int, ride *Completer) ([]*Delivery, error) {
	var out []*Delivery
	for lo := 0; lo < len(msgs) && len(out) < limit; lo += maxBatch {
		ds, err := q.startChunk(ctx, consumer, queue, msgs[lo:min(lo+maxBatch, len(msgs))], mode, limit-len(out), ride)
		out = append(out, ds...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// startChunk starts up to limit runs of msgs in one script call. With a
// Completer, the results waiting in it ride along in the same round trip.
func (q *Queue) startChunk(ctx context.Context, consumer, queue string, msgs []redis.XMessage, mode startMode, limit int, ride *Completer) ([]*Delivery, error) {
	lease := q.opt.leaseTTL.Milliseconds()
	keys := make([]string, 0, 3+3*len(msgs))
	keys = append(keys, q.keys.Stream(queue), q.keys.Running(queue), q.keys.Finished(queue))
	args := make([]any, 0, 9+4*len(msgs))
	args = append(args, consumer, lease, time.Now().UnixMilli(), q.opt.maxDeliveries,
		q.opt.runTTL.Milliseconds(), group, string(mode), lease, limit)
	tokens := make([]string, len(msgs))
	for i, m := range msgs {
		id, _ := m.Values["run"].(string) // "" for an entry deleted while pending
		attempt, _ := m.Values["attempt"].(string)
		tokens[i] = NewID()
		keys = append(keys, q.keys.Run(queue, id), q.keys.Lease(queue, id), q.keys.Cancel(queue, id))
		args = append(args, id, m.ID, attempt, tokens[i])
	}
	octx, cancel := q.op(ctx)
	defer cancel()
	start := &scriptCall{script: scriptStart, keys: keys, args: args}
	if err := q.startWith(octx, start, ride); err != nil {
		return nil, fmt.Errorf("start %d runs from %s: %w", len(msgs), queue, err)
	}
	res, err := start.cmd.Slice()
	if err != nil {
		return nil, fmt.Errorf("start %d runs from %s: %w", len(msgs), queue, err)
	}
	var out []*Delivery
	for i, v := range res {
		reply, _ := v.([]any)
		if len(reply) == 0 || reply[0] != "started" {
			q.log.Debug("run not started", "entry", msgs[i].ID, "queue", queue, "mode", mode, "status", reply)
			continue
		}
		r, err := decodeRun(valuesToMap(reply[1:]))
		if err != nil || r == nil {
			return out, fmt.Errorf("start run from %s entry %s: bad record: %v", queue, msgs[i].ID, err)
		}
		out = append(out, &Delivery{Queue: queue, EntryID: msgs[i].ID, Consumer: consumer, Run: r, token: tokens[i]})
	}
	return out, nil
}

// startWith runs the start call, in one pipeline with the complete calls of
// the results waiting in ride (if any), and answers those results.
func (q *Queue) startWith(ctx context.Context, start *scriptCall, ride *Completer) error {
	xs := ride.takeBatch()
	if len(xs) == 0 {
		return q.execPipe(ctx, nil, []*scriptCall{start})
	}
	cs := completions(xs)
	pre, calls, err := q.completeParts(ctx, cs, false, true)
	if err != nil {
		ride.putBack(xs)
		return q.execPipe(ctx, nil, []*scriptCall{start})
	}
	err = q.execPipe(ctx, pre, append(calls, start))
	if err == nil {
		var recs []Recorded
		if recs, err = completedRuns(calls, cs); err == nil {
			deliver(xs, recs)
			return nil
		}
	}
	ride.putBack(xs) // the Completer writes them again (CompleteAll is safe to repeat)
	return err
}

// promote moves due retries (members "<id>/<attempt>") back into the stream.
func (q *Queue) promote(ctx context.Context, queue string, due []string) error {
	calls := make([]*scriptCall, len(due))
	for i, member := range due {
		id, attempt, _ := strings.Cut(member, "/")
		calls[i] = &scriptCall{script: scriptPromote,
			keys: []string{q.keys.Delayed(queue), q.keys.Stream(queue), q.keys.Run(queue, id)},
			args: []any{member, id, attempt}}
	}
	if err := q.execPipe(ctx, nil, calls); err != nil {
		return fmt.Errorf("requeue %d due retries in %s: %w", len(due), queue, err)
	}
	for i, c := range calls {
		if err := c.cmd.Err(); err != nil {
			return fmt.Errorf("requeue retry %s in %s: %w", due[i], queue, err)
		}
	}
	return nil
}
