package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/celeroot/celeroot/queue/internal/rawclient"
)

// Sentinel errors.
var (
	// ErrNotFound: no run with that id (never enqueued, or its record expired).
	ErrNotFound = errors.New("run not found")
	// ErrLeaseLost: the caller no longer holds the run's lease (it expired and
	// the run was reclaimed, or it was killed after its worker vanished); the
	// caller must stop the task and must not report a result.
	ErrLeaseLost = errors.New("lease lost")
	// ErrExists: Enqueue was given an explicit run id that is already used.
	ErrExists = errors.New("run id already exists")
)

// group is the consumer group of every task stream and control stream.
const group = "workers"

// Queue is a handle on the task queues of one namespace. It is safe for
// concurrent use.
type Queue struct {
	rdb  redis.UniversalClient
	ns   Namespace
	keys Keys
	opt  options
	log  *slog.Logger

	coalesce coalescer // concurrent Enqueue calls share round trips
}

type options struct {
	runTTL, logTTL, leaseTTL, heartbeatTTL time.Duration
	opTimeout, backoff, backoffMax         time.Duration
	maxDeliveries, logCap, controlCap      int
	logBudget                              int64
	pollInterval                           time.Duration
	waitReplicas                           int
	waitTimeout                            time.Duration
	log                                    *slog.Logger
	logSet                                 bool
}

// Option changes a default of Open and New.
type Option func(*options)

// WithRunTTL sets how long run records (and idempotency keys) live after
// their last change. Default 24h.
func WithRunTTL(d time.Duration) Option { return func(o *options) { o.runTTL = d } }

// WithLogTTL sets how long a run's log stream lives after its last line.
// Default: the run TTL.
func WithLogTTL(d time.Duration) Option { return func(o *options) { o.logTTL = d } }

// WithLogCap sets the approximate number of lines kept per run log
// (XADD MAXLEN ~ n). Default 10000.
func WithLogCap(n int) Option { return func(o *options) { o.logCap = n } }

// WithLogBudget sets the bytes of output a run log keeps (each line's text
// plus about 48 bytes): the first half of the budget and the last half; the
// lines between are cut and readers see a marker in their place. Values
// below 4 KiB are raised to it. Default 4 MiB (cl.yaml redis.log_budget).
func WithLogBudget(n int64) Option { return func(o *options) { o.logBudget = max(n, 4<<10) } }

// WithLeaseTTL sets the lease of a running run: a worker must renew it within
// this time or the run may be handed to another worker. Default 30s; workers
// renew every third of it.
func WithLeaseTTL(d time.Duration) Option { return func(o *options) { o.leaseTTL = d } }

// WithMaxDeliveries sets how often one attempt of a run may be started
// (crash recoveries included) before it is declared dead. Default 5.
func WithMaxDeliveries(n int) Option { return func(o *options) { o.maxDeliveries = n } }

// WithRetryBackoff sets the retry delay: base·2^attempt, capped at max.
// Default 1s, capped at 5m.
func WithRetryBackoff(base, max time.Duration) Option {
	return func(o *options) { o.backoff, o.backoffMax = base, max }
}

// WithHeartbeatTTL sets how long a heartbeat counts as alive. Default 30s
// (three missed 10 s beats).
func WithHeartbeatTTL(d time.Duration) Option { return func(o *options) { o.heartbeatTTL = d } }

// WithOpTimeout sets the deadline of each Redis call (blocking reads get
// their block time on top). Default 5s.
func WithOpTimeout(d time.Duration) Option { return func(o *options) { o.opTimeout = d } }

// WithPollInterval sets how often Wait looks at run states. Default 200ms.
func WithPollInterval(d time.Duration) Option { return func(o *options) { o.pollInterval = d } }

// WithLogger sets the logger of the Completer and of best-effort background writes.
// go-redis' own messages (failed dials while Redis is down, pool events)
// go to this logger at debug level instead of stderr.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log, o.logSet = l, l != nil } }

// New wraps an existing client. Close closes the client.
func New(rdb redis.UniversalClient, ns Namespace, opts ...Option) (*Queue, error) {
	if err := ns.validate(); err != nil {
		return nil, err
	}
	o := options{
		runTTL: 24 * time.Hour, leaseTTL: 30 * time.Second, heartbeatTTL: 30 * time.Second,
		opTimeout: 5 * time.Second, backoff: time.Second, backoffMax: 5 * time.Minute,
		maxDeliveries: 5, logCap: 10000, controlCap: 1000, pollInterval: 200 * time.Millisecond,
		logBudget: 4 << 20,
	}
	for _, f := range opts {
		f(&o)
	}
	if o.logTTL == 0 {
		o.logTTL = o.runTTL
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if o.leaseTTL < 10*time.Millisecond || o.maxDeliveries < 1 || o.runTTL <= 0 {
		return nil, fmt.Errorf("queue options: lease %v, max deliveries %d, run ttl %v: want lease ≥ 10ms, deliveries ≥ 1, ttl > 0",
			o.leaseTTL, o.maxDeliveries, o.runTTL)
	}
	routeRedisLog(o.log, o.logSet)
	q := &Queue{rdb: rdb, ns: ns, keys: newKeys(ns), opt: o, log: o.log}
	if err := q.checkWait(); err != nil {
		return nil, err
	}
	return q, nil
}

// Open connects to the Redis named by url (see ParseURL for the forms),
// checks it answers, and returns the queue of namespace ns.
func Open(ctx context.Context, url string, ns Namespace, opts ...Option) (*Queue, error) {
	ep, err := ParseURL(url)
	if err != nil {
		return nil, err
	}
	rdb, err := ep.Client()
	if err != nil {
		return nil, err
	}
	q, err := New(rdb, ns, opts...)
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	pctx, cancel := q.op(ctx)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, &ConnectError{Endpoint: ep.String(), Err: err}
	}
	return q, nil
}

// ConnectError is Open's error when Redis does not answer: nobody listens
// at the address, a password is wrong, a timeout. Callers add what to do,
// which depends on how the URL was chosen.
type ConnectError struct {
	Endpoint string // the URL, passwords masked
	Err      error
}

func (e *ConnectError) Error() string {
	return fmt.Sprintf("connect to redis %s: %v", e.Endpoint, e.Err)
}

func (e *ConnectError) Unwrap() error { return e.Err }

// With returns a queue on the same client and namespace with opts applied
// on top of q's options (e.g. another lease for a worker). Closing either
// closes the shared client.
func (q *Queue) With(opts ...Option) (*Queue, error) {
	o := q.opt
	for _, f := range opts {
		f(&o)
	}
	if o.leaseTTL < 10*time.Millisecond || o.maxDeliveries < 1 || o.runTTL <= 0 {
		return nil, fmt.Errorf("queue options: lease %v, max deliveries %d, run ttl %v: want lease ≥ 10ms, deliveries ≥ 1, ttl > 0",
			o.leaseTTL, o.maxDeliveries, o.runTTL)
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	routeRedisLog(o.log, o.logSet)
	w := &Queue{rdb: q.rdb, ns: q.ns, keys: q.keys, opt: o, log: o.log}
	if err := w.checkWait(); err != nil {
		return nil, err
	}
	return w, nil
}

// Close closes the Redis client.
func (q *Queue) Close() error { return q.rdb.Close() }

func init() { rawclient.Of = func(q any) redis.UniversalClient { return q.(*Queue).rdb } }

// Ping checks that Redis answers, within the queue's operation timeout.
func (q *Queue) Ping(ctx context.Context) error {
	ctx, cancel := q.op(ctx)
	defer cancel()
	if err := q.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("ping redis: %w", err)
	}
	return nil
}

// Namespace returns the queue's namespace.
func (q *Queue) Namespace() Namespace { return q.ns }

// Keys returns the key layout of the queue's namespace.
func (q *Queue) Keys() Keys { return q.keys }

// LeaseTTL returns the lease duration; workers renew every third of it.
func (q *Queue) LeaseTTL() time.Duration { return q.opt.leaseTTL }

// HeartbeatTTL returns how long a heartbeat counts as alive; workers send
// one at least every third of it.
func (q *Queue) HeartbeatTTL() time.Duration { return q.opt.heartbeatTTL }

// op derives the context of one Redis call.
// pointerTTL is the life of a run's id → queue pointer: a tenth longer
// than the record's, so that the pointer of a run completed within a tenth
// of the run TTL after it was created outlives its record without being
// renewed.
func (q *Queue) pointerTTL() time.Duration { return q.opt.runTTL + q.opt.runTTL/10 }

func (q *Queue) op(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, q.opt.opTimeout)
}

// where returns the queue of a run.
func (q *Queue) where(ctx context.Context, id string) (string, error) {
	octx, cancel := q.op(ctx)
	defer cancel()
	target, err := q.rdb.Get(octx, q.keys.Where(id)).Result()
	if errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("run %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("look up run %s: %w", id, err)
	}
	return target, nil
}

// Get returns the run with the given id, or an error wrapping ErrNotFound.
func (q *Queue) Get(ctx context.Context, id string) (*Run, error) {
	target, err := q.where(ctx, id)
	if err != nil {
		return nil, err
	}
	return q.getIn(ctx, target, id)
}

func (q *Queue) getIn(ctx context.Context, target, id string) (*Run, error) {
	octx, cancel := q.op(ctx)
	defer cancel()
	h, err := q.rdb.HGetAll(octx, q.keys.Run(target, id)).Result()
	if err != nil {
		return nil, fmt.Errorf("get run %s: %w", id, err)
	}
	r, err := decodeRun(h)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, fmt.Errorf("run %s: %w", id, ErrNotFound)
	}
	return r, nil
}

// Wait polls until every run is terminal and returns them in the order of
// ids. It returns early with ctx's error, or with an error wrapping
// ErrNotFound for an unknown id.
func (q *Queue) Wait(ctx context.Context, ids ...string) ([]*Run, error) {
	runs := make([]*Run, len(ids))
	for {
		done := true
		for i, id := range ids {
			if runs[i] != nil && runs[i].State.Terminal() {
				continue
			}
			r, err := q.Get(ctx, id)
			if err != nil {
				return nil, fmt.Errorf("wait for run %s: %w", id, err)
			}
			runs[i] = r
			done = done && r.State.Terminal()
		}
		if done {
			return runs, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for %d runs: %w", len(ids), ctx.Err())
		case <-time.After(q.opt.pollInterval):
		}
	}
}

// Cancelled reports whether Kill was called for the run. Workers check it
// (and the control stream) while a run is going.
func (q *Queue) Cancelled(ctx context.Context, id string) (bool, error) {
	target, err := q.where(ctx, id)
	if err != nil {
		return false, err
	}
	octx, cancel := q.op(ctx)
	defer cancel()
	n, err := q.rdb.Exists(octx, q.keys.Cancel(target, id)).Result()
	if err != nil {
		return false, fmt.Errorf("check cancel of run %s: %w", id, err)
	}
	return n == 1, nil
}
