package schedule

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/queue"
)

// Role is what a beat is doing.
type Role string

// The roles of a beat.
const (
	RoleStarting Role = "starting" // not yet tried for the lease
	RoleStandby  Role = "standby"  // another beat leads; waiting to take over
	RoleLeader   Role = "leader"   // holds the lease and fires
	RoleStopped  Role = "stopped"  // Run returned
)

// Leading reports whether the role fires schedules.
func (r Role) Leading() bool { return r == RoleLeader }

// Options tunes a Beat. Zero values mean the documented defaults.
type Options struct {
	// ID names this beat in Redis and in status; default "<host>-<pid>-<random>".
	ID string
	// Lease is the leader lease; a standby takes over at most this long
	// after the leader stopped renewing. Default 15s.
	Lease time.Duration
	// LateWindow: a tick at most this late still fires (failover gaps).
	// Default twice the lease.
	LateWindow time.Duration
	// FireTTL is how long fire records live. Default 24h, the queue's run TTL.
	FireTTL time.Duration
	// ConfigPoll is how often the published set is polled besides pub/sub. Default 10s.
	ConfigPoll time.Duration
	// FanOut bounds the enqueue batches (queue.EnqueueMany calls of up to
	// 500 runs) in flight. Default 64.
	FanOut int
	// Lookahead is how long before its tick a fire is claimed (its hosts
	// resolved, its plan stored); its runs are enqueued at the tick. It
	// takes the claims off a busy tick's critical path. Default the lesser
	// of 1s and a third of the lease.
	Lookahead time.Duration
	// SHA and Source label the Set built from the configuration given to
	// New and Reload; Source defaults to "beat".
	SHA, Source string
	// Version is reported in status.
	Version string
	// Logger receives the beat's log; default discard.
	Logger *slog.Logger
	// OnFire, when set, is called after each fire is recorded.
	OnFire func(FireEvent)
	// OnRole, when set, is called on every change of role.
	OnRole func(Role)
	// Jobs run in the leader at their ticks (see Job).
	Jobs []Job
}

func (o *Options) defaults() error {
	if o.Lease == 0 {
		o.Lease = 15 * time.Second
	}
	if o.Lease < 100*time.Millisecond {
		return fmt.Errorf("beat lease %v is too short: use at least 100ms (default 15s)", o.Lease)
	}
	if o.LateWindow == 0 {
		o.LateWindow = 2 * o.Lease
	}
	if o.FireTTL == 0 {
		o.FireTTL = 24 * time.Hour
	}
	if o.ConfigPoll == 0 {
		o.ConfigPoll = 10 * time.Second
	}
	if o.FanOut == 0 {
		o.FanOut = 64
	}
	if o.Lookahead == 0 {
		o.Lookahead = min(time.Second, o.Lease/3)
	}
	if o.Source == "" {
		o.Source = "beat"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ID == "" {
		host, _ := os.Hostname()
		var b [3]byte
		_, _ = rand.Read(b[:])
		o.ID = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	if strings.ContainsAny(o.ID, "|{} \t\n") {
		return fmt.Errorf("beat id %q: use no '|', braces or spaces", o.ID)
	}
	return nil
}

// Beat is the scheduler: any number of beats may run against one
// namespace; the one holding the lease fires. See the package doc.
type Beat struct {
	q    *queue.Queue
	st   store
	lq   leaser
	opt  Options
	log  *slog.Logger
	l    *lease
	fan  *fanout
	cur  atomic.Pointer[loaded]
	kick chan struct{} // a new set was loaded
	wake chan struct{} // the lease was released: try now
	told chan struct{} // the role changed: write the member record now

	mu        sync.Mutex
	role      Role
	roleSince time.Time
	next      time.Time // the leader's next due tick, for status
	started   time.Time
	fleet     queue.FleetState // the active fleet as this beat last read it (member record)
}

// New returns a beat firing cfg's schedules through q. Run starts it.
func New(cfg *config.Config, q *queue.Queue, opts Options) (*Beat, error) {
	return NewFromSet(FromConfig(cfg, opts.SHA, sourceOr(opts.Source)), q, opts)
}

func sourceOr(s string) string {
	if s == "" {
		return "beat"
	}
	return s
}

// NewFromSet is New with a Set built elsewhere.
func NewFromSet(set *Set, q *queue.Queue, opts Options) (*Beat, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	b := &Beat{
		q: q, st: q.Beat(), lq: q, l: &lease{}, opt: opts, log: opts.Logger.With("beat", opts.ID),
		kick: make(chan struct{}, 1), wake: make(chan struct{}, 1), told: make(chan struct{}, 1), role: RoleStarting, started: time.Now(),
	}
	b.fan = newFanout(b)
	b.apply(set, 0)
	return b, nil
}

// ID returns the beat's id.
func (b *Beat) ID() string { return b.opt.ID }

// Role returns the beat's current role.
func (b *Beat) Role() Role {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.role
}

// Loaded returns the set the beat fires and the publication generation it
// came from (0 when it was not published).
func (b *Beat) Loaded() (*Set, int64) {
	ld := b.cur.Load()
	return ld.set, ld.gen
}

func (b *Beat) setRole(r Role) {
	b.mu.Lock()
	changed := b.role != r
	if changed {
		b.role, b.roleSince = r, time.Now()
	}
	b.mu.Unlock()
	if !changed {
		return
	}
	b.log.Info("beat role", "role", string(r))
	select {
	case b.told <- struct{}{}:
	default:
	}
	if b.opt.OnRole != nil {
		b.opt.OnRole(r)
	}
}

// Run runs the beat until ctx ends: it publishes or adopts the schedule
// set, campaigns for the lease, fires while it leads, follows published
// sets, and heartbeats its member record. It returns nil when ctx ends,
// after handing the lease over and recording the fires in flight. Run is
// called once per Beat.
func (b *Beat) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	b.fan.open()
	var wg sync.WaitGroup
	wg.Go(func() { b.watchConfig(ctx) })
	wg.Go(func() { b.heartbeat(ctx) })
	for _, j := range b.opt.Jobs {
		wg.Go(func() { b.runJob(ctx, j) })
	}
	b.campaign(ctx)
	cancel()
	wg.Wait()
	b.fan.close(10 * time.Second)
	b.setRole(RoleStopped)
	b.deregister()
	return nil
}

// Reload loads cfg's schedules (at commit sha) and publishes them, so that
// every beat of the namespace swaps to them. See ReloadSet.
func (b *Beat) Reload(ctx context.Context, cfg *config.Config, sha string) error {
	return b.ReloadSet(ctx, FromConfig(cfg, sha, b.opt.Source))
}

// ReloadSet swaps set in at once and publishes it. The leader swaps between
// two fires: ticks already due fire under the old set, later ones under the
// new; an unchanged schedule keeps its cursor, so no tick is missed or
// doubled. It returns the publication error, if any (the local swap happens
// regardless).
func (b *Beat) ReloadSet(ctx context.Context, set *Set) error {
	b.apply(set, 0)
	gen, err := Publish(ctx, b.q, set)
	if err != nil {
		return fmt.Errorf("reload schedules: %w", err)
	}
	b.setGen(set, gen)
	return nil
}

// apply makes set the current one and tells the leader loop.
func (b *Beat) apply(set *Set, gen int64) {
	ld := compile(set, gen, b.log)
	b.cur.Store(ld)
	b.log.Info("schedules loaded", "sha", set.SHA, "digest", ld.digest, "gen", gen, "schedules", len(ld.specs), "source", set.Source)
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// setGen records the generation of the current set once published.
func (b *Beat) setGen(set *Set, gen int64) {
	for {
		old := b.cur.Load()
		if old.set != set {
			return
		}
		nld := *old
		nld.gen = gen
		if b.cur.CompareAndSwap(old, &nld) {
			return
		}
	}
}
