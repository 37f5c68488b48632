package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/queue"
)

// Options configures Run.
type Options struct {
	Config     *config.Config
	Host       string        // this host's name in cl.yaml
	Queue      *queue.Queue  // the queues of the configuration's namespace
	ReleaseDir string        // root of the tree holding cl.yaml and tasks/ (scripts resolve under ReleaseDir/tasks)
	SHA        string        // release SHA; "dev" outside a release
	Version    string        // cl version
	HealthAddr string        // listen address for the health endpoint, "" = from deployment.health_check_url, "-" = off
	Logger     *slog.Logger  // nil: discard
	Grace      time.Duration // SIGTERM grace for running tasks (default 30s)
	// Reload, when set, is called on SIGUSR1 for the release `current`
	// points to now; the worker then serves it without restarting (see
	// reload.go). Nil: SIGUSR1 is not handled.
	Reload func(ctx context.Context) (Release, error)
}

// Defaults of Options and of task execution.
const (
	DefaultGrace = 30 * time.Second
	// KillGrace is how long a task's process group has between SIGTERM and
	// SIGKILL when it is killed, timed out or stopped at shutdown.
	KillGrace = 10 * time.Second
	// DevSHA is the SHA reported outside a release directory.
	DevSHA = "dev"
	// claimBlock is how long an idle worker's claim waits for work, split
	// between its queues on Redis Cluster. A stop does not wait for it:
	// the queue abandons a blocking read when its context ends.
	claimBlock = 2 * time.Second
	// earlyKillTTL is how long a kill for a run not (yet) in flight here is
	// remembered.
	earlyKillTTL = time.Minute
	// prefetch is how many host-queue runs per slot a busy worker claims
	// ahead of free slots before it has timed a run (Celery's default
	// worker_prefetch_multiplier is 4 as well). Once runs are timed, it
	// claims what its slots finish in prefetchWindow, between 0 and
	// maxPrefetch per slot: short tasks are claimed many per round trip,
	// long ones are not started (and shown running) long before they run.
	prefetch       = 4
	maxPrefetch    = 16
	prefetchWindow = 100 * time.Millisecond
	// completeHold is how long a result waits for others (and for a claim
	// that takes it along in the round trip that starts new runs) before
	// it is written on its own.
	completeHold = time.Millisecond
)

// ErrUnknownHost is returned by Run when Options.Host is not in cl.yaml.
var ErrUnknownHost = errors.New("host not in cl.yaml")

// Why claiming stops (errRecycle) and why a run's context is cancelled
// (errKilled, errShutdown; queue.ErrLeaseLost).
var (
	errRecycle  = errors.New("max_tasks_per_child reached: recycling")
	errKilled   = errors.New("killed by request")
	errShutdown = errors.New("worker stopping after its grace period: run handed back")
)

// Run serves the host's queues until ctx is cancelled (SIGTERM semantics:
// stop claiming, let running tasks finish within Grace, hand the others back)
// or until max_tasks_per_child runs were started and have finished. It
// returns nil after such a stop, and an error only when it cannot start
// (unknown host, bad options, health address in use).
func Run(ctx context.Context, o Options) error {
	w, err := newWorker(o)
	if err != nil {
		return err
	}
	hs, err := w.startHealth()
	if err != nil {
		return err
	}
	defer hs.stop()
	stopReloads := w.handleReloads(ctx)
	defer stopReloads()
	w.log.Info("worker started", "role", w.host.Role, "queues", strings.Join(w.queues, ","),
		"slots", w.role.Concurrency, "max_tasks_per_child", w.role.MaxTasksPerChild, "sha", w.o.SHA,
		"release", w.o.ReleaseDir, "health", hs.addr())
	why := w.serve(ctx)
	w.log.Info("worker stopped", "why", why,
		"processed", w.processed.Load(), "failed", w.failed.Load())
	return nil
}

// worker is the state of one Run.
type worker struct {
	o         Options
	cfg       *config.Config
	q         *queue.Queue
	host      *config.Host
	role      *config.Worker
	queues    []string
	log       *slog.Logger
	started   time.Time
	killGrace time.Duration
	block     time.Duration // how long one claim waits for work (split between the queues)
	tick      time.Duration // renew and reclaim period
	beat      time.Duration // heartbeat period
	guard     scheduleGuard
	cur       atomic.Pointer[release] // the release served (cfg, dir, sha): swapped by a reload

	slots  chan struct{} // one token per busy slot
	budget *budget

	// Set by serve.
	claimCtx     context.Context // ends when claiming stops
	stopClaiming context.CancelCauseFunc
	runBase      context.Context // parent of run contexts
	stopRuns     context.CancelCauseFunc
	completer    *queue.Completer

	mu         sync.Mutex
	inflight   map[string]*flight   // started, result not recorded yet
	earlyKills map[string]time.Time // kills for runs not registered yet
	runs       sync.WaitGroup
	executing  atomic.Int64 // runs whose task is going (busy slots)
	waiting    atomic.Int64 // prefetched runs waiting for a slot
	runTime    atomic.Int64 // moving average of a run's duration (ns); 0 before the first
	shallow    bool         // the last claim found fewer runs than slots (claim loop only)
	scanned    time.Time    // when the claim loop last read the queues without waiting

	serving           atomic.Bool // claiming; false while draining
	processed, failed atomic.Int64
	counted           atomic.Bool // a run finished since the last heartbeat (maintain sends one within a second)

	sec secretState // the secrets provider and audit trail, opened at the first run that uses a secret
}

// flight is a run being executed.
type flight struct {
	d      *queue.Delivery
	cancel context.CancelCauseFunc
}

func newWorker(o Options) (*worker, error) {
	if o.Config == nil || o.Queue == nil {
		return nil, fmt.Errorf("start worker %s: configuration and queue are required", o.Host)
	}
	h, ok := o.Config.Hosts.Get(o.Host)
	if !ok {
		return nil, fmt.Errorf("start worker: %w: %q (hosts: %s): pass --host with a name from cl.yaml hosts",
			ErrUnknownHost, o.Host, strings.Join(o.Config.Hosts.Keys(), ", "))
	}
	role, ok := o.Config.Workers.Get(h.Role)
	if !ok {
		return nil, fmt.Errorf("start worker %s: role %q is not defined under workers in cl.yaml", o.Host, h.Role)
	}
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	if o.SHA == "" {
		o.SHA = DevSHA
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ReleaseDir == "" {
		o.ReleaseDir = o.Config.Source.Dir
	}
	// Scripts run with the release as their working directory: their
	// paths must not be relative to it.
	dir, err := filepath.Abs(o.ReleaseDir)
	if err != nil {
		return nil, fmt.Errorf("start worker %s: release directory %s: %w", o.Host, o.ReleaseDir, err)
	}
	o.ReleaseDir = dir
	w := &worker{
		o: o, cfg: o.Config, q: o.Queue, host: h, role: role,
		queues:    []string{queue.HostQueue(o.Host), queue.FleetQueue(queue.RoleQueue(role.Queue), h.Fleet)},
		log:       o.Logger.With("host", o.Host),
		started:   time.Now(),
		killGrace: KillGrace,
		block:     claimBlock,
		tick:      min(o.Queue.LeaseTTL()/3, 10*time.Second),
		beat:      o.Queue.HeartbeatTTL() / 3,
		guard:     scheduleGuard{running: map[string]string{}},
		slots:     make(chan struct{}, max(role.Concurrency, 1)),
		budget:    newBudget(role.MaxTasksPerChild),
		inflight:  map[string]*flight{},

		earlyKills: map[string]time.Time{},
	}
	w.cur.Store(&release{cfg: o.Config, dir: o.ReleaseDir, sha: o.SHA, started: w.started})
	return w, nil
}

// heartbeat reports the worker's state.
func (w *worker) heartbeat(ctx context.Context) {
	c := w.now()
	hb := queue.Heartbeat{
		Host: w.o.Host, Role: w.host.Role, SHA: c.sha, PID: os.Getpid(), Version: w.o.Version,
		Started: c.started, Reload: w.o.Reload != nil, SlotsBusy: w.busy(), Slots: cap(w.slots),
		Processed: w.processed.Load(), Failed: w.failed.Load(),
	}
	if err := w.q.Heartbeat(ctx, hb); err != nil && ctx.Err() == nil {
		w.log.Error("send heartbeat", "err", err)
	}
}

// busy is the number of tasks going (busy slots).
func (w *worker) busy() int { return int(w.executing.Load()) }

// budget counts the runs a worker may still start (max_tasks_per_child).
type budget struct {
	tokens chan struct{} // nil: unlimited
	limit  int64
	used   atomic.Int64
}

func newBudget(n int) *budget {
	if n <= 0 {
		return &budget{}
	}
	b := &budget{tokens: make(chan struct{}, n), limit: int64(n)}
	for range n {
		b.tokens <- struct{}{}
	}
	return b
}

// take reserves one start, waiting while other readers hold the remaining
// reservations; it fails when ctx ends.
func (b *budget) take(ctx context.Context) bool {
	if b.tokens == nil {
		return true
	}
	select {
	case <-b.tokens:
		return true
	case <-ctx.Done():
		return false
	}
}

// tryTake reserves one start if one is left.
func (b *budget) tryTake() bool {
	if b.tokens == nil {
		return true
	}
	select {
	case <-b.tokens:
		return true
	default:
		return false
	}
}

// give returns an unused reservation.
func (b *budget) give() {
	if b.tokens != nil {
		b.tokens <- struct{}{}
	}
}

// use records a start and reports whether the budget is now spent.
func (b *budget) use() (spent bool) {
	n := b.used.Add(1)
	return b.tokens != nil && n >= b.limit
}

// scheduleGuard enforces `concurrency: forbid`: one run per schedule at a
// time on this worker.
type scheduleGuard struct {
	mu      sync.Mutex
	running map[string]string // schedule → run id
}

// enter registers run for schedule, or returns the run already going.
func (g *scheduleGuard) enter(schedule, run string) (other string, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if cur, busy := g.running[schedule]; busy && cur != run {
		return cur, false
	}
	g.running[schedule] = run
	return "", true
}

func (g *scheduleGuard) leave(schedule, run string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.running[schedule] == run {
		delete(g.running, schedule)
	}
}
