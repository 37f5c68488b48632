package deploy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/hostexec"
)

// ErrFailed is matched by the error of a deploy in which a host did not
// end up running the release.
var ErrFailed = errors.New("deploy failed")

// Opener opens the hosts of cl.yaml (hostexec.Connector implements it).
type Opener interface {
	Open(ctx context.Context, h *config.Host) (hostexec.Host, error)
}

// Engine deploys releases to hosts. Set the fields, then call Deploy,
// Check, Add or Remove; an Engine may run one operation at a time.
type Engine struct {
	Config     *config.Config
	Env        string // --env overlay: rendered into the worker's command line
	Hosts      Opener
	Heartbeats Heartbeats // required by Deploy and Add; optional for Check
	Binaries   *Binaries
	Log        *slog.Logger
	// Events receives progress events, one call at a time.
	Events func(Event)
	// HealthTimeout overrides deployment.health_timeout when set.
	HealthTimeout time.Duration

	cache payloadCache
	evMu  sync.Mutex
}

// withConfig is an engine like e (same connections, heartbeats,
// binaries, events and log) for another configuration: the one an add
// deploys with.
func (e *Engine) withConfig(cfg *config.Config) *Engine {
	return &Engine{Config: cfg, Env: e.Env, Hosts: e.Hosts, Heartbeats: e.Heartbeats, Binaries: e.binaries(),
		Log: e.Log, Events: e.Events, HealthTimeout: e.HealthTimeout}
}

func (e *Engine) emit(ev Event) {
	if e.Events == nil {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	e.evMu.Lock()
	defer e.evMu.Unlock()
	e.Events(ev)
}

func (e *Engine) healthTimeout() time.Duration {
	if e.HealthTimeout > 0 {
		return e.HealthTimeout
	}
	if t := e.Config.Deployment.HealthTimeout.D(); t > 0 {
		return t
	}
	return config.DefaultHealthTimeout
}

func (e *Engine) binaries() *Binaries {
	if e.Binaries == nil {
		e.Binaries = &Binaries{}
	}
	return e.Binaries
}

// NewID returns a random deploy id.
func NewID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Deploy rolls rel out to hosts with the strategy of o (defaults from
// cl.yaml). It returns a report for every host, and an error matching
// ErrFailed when a host does not run the release, or context.Canceled
// when ctx ended (hosts in flight are left on their old release).
func (e *Engine) Deploy(ctx context.Context, rel *Release, hosts []*config.Host, o Options) (*Report, error) {
	p, err := resolve(e.Config.Deployment, o, len(hosts))
	if err != nil {
		return nil, err
	}
	// The path goes into unit files and host commands: refuse a bad one
	// before any host is touched.
	if err := config.CheckTargetDirectory(e.Config.Deployment.TargetDirectory); err != nil {
		return nil, fmt.Errorf("deploy: %w (fix deployment.target_directory in cl.yaml)", err)
	}
	if o.ID == "" {
		o.ID = NewID()
	}
	rep := &Report{ID: o.ID, Version: rel.Version, Commit: rel.Commit, Dirty: rel.Dirty, Command: o.Command,
		Strategy: p.strategy, Batch: p.batch, MaxFail: p.maxFail, Started: time.Now()}
	if p.strategy == StrategyCanary {
		rep.Canary = p.canary
	}
	ro := &rollout{e: e, rel: rel, plan: p, runs: map[string]*hostRun{}, reports: map[string]*HostReport{}}
	ro.run(ctx, p.batches(hosts))
	if ro.stopped.Load() && o.RollbackOnFailure {
		ro.rollbackDeployed(ctx)
	}
	order := map[string]int{}
	for i, h := range hosts {
		order[h.Name] = i
		hr, ok := ro.reports[h.Name]
		if !ok {
			hr = ro.skipped(ctx, h)
		}
		rep.Hosts = append(rep.Hosts, *hr)
	}
	sortHosts(rep.Hosts, order)
	e.fillWorkers(context.WithoutCancel(ctx), rep)
	rep.Stopped, rep.StopReason = ro.stopped.Load(), ro.stopReason
	rep.Interrupted = ctx.Err() != nil
	rep.Finished = time.Now()
	return rep, reportError(ctx, rep)
}

func reportError(ctx context.Context, rep *Report) error {
	switch {
	case rep.Interrupted:
		return fmt.Errorf("deploy %s interrupted (%s): %w", ShortVersion(rep.Version), rep.Summary(), context.Cause(ctx))
	case !rep.OK():
		return fmt.Errorf("%w: %s", ErrFailed, rep.Summary())
	}
	return nil
}

// fillWorkers records the release each host's worker reports now.
func (e *Engine) fillWorkers(ctx context.Context, rep *Report) {
	if e.Heartbeats == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for i := range rep.Hosts {
		if hb, ok, err := e.Heartbeats.Worker(ctx, rep.Hosts[i].Host); err == nil && ok {
			rep.Hosts[i].Worker = hb.SHA
		}
	}
}

// rollout runs batches, counting failures against the budget.
type rollout struct {
	e          *Engine
	rel        *Release
	plan       plan
	failures   atomic.Int64
	stopped    atomic.Bool
	stopReason string
	mu         sync.Mutex
	runs       map[string]*hostRun
	reports    map[string]*HostReport
}

func (ro *rollout) run(ctx context.Context, batches [][]*config.Host) {
	for i, b := range batches {
		if ro.stopped.Load() || ctx.Err() != nil {
			return
		}
		ro.e.emit(Event{Step: StepRollout, Status: StatusInfo, Message: fmt.Sprintf("batch %d of %d: %s", i+1, len(batches), hostCount(len(b)))})
		ro.runBatch(ctx, b)
	}
}

func (ro *rollout) runBatch(ctx context.Context, hosts []*config.Host) {
	sem := make(chan struct{}, ro.plan.parallel)
	var wg sync.WaitGroup
	for _, h := range hosts {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil || ro.stopped.Load() {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ro.deploy(ctx, h)
		}()
	}
	wg.Wait()
}

func (ro *rollout) deploy(ctx context.Context, h *config.Host) {
	run := ro.e.newRun(ro.rel, h)
	run.repair = ro.plan.repair
	rep := run.deploy(ctx)
	ro.mu.Lock()
	ro.runs[h.Name], ro.reports[h.Name] = run, rep
	ro.mu.Unlock()
	if rep.Outcome.Failed() && ro.failures.Add(1) > int64(ro.plan.maxFail) && !ro.stopped.Swap(true) {
		ro.mu.Lock()
		ro.stopReason = fmt.Sprintf("%s failed, more than max-fail %d (first: %s at %s)", hostCount(int(ro.failures.Load())), ro.plan.maxFail, h.Name, rep.FailedStep)
		ro.mu.Unlock()
		ro.e.emit(Event{Step: StepRollout, Status: StatusFailed, Message: "stopping: " + ro.stopReason})
	}
}

// skipped is the report of a host the rollout never reached.
func (ro *rollout) skipped(ctx context.Context, h *config.Host) *HostReport {
	out := OutcomeSkipped
	msg := "not attempted: the rollout stopped"
	if ctx.Err() != nil && !ro.stopped.Load() {
		out, msg = OutcomeCancelled, "not attempted: interrupted"
	}
	ro.e.emit(Event{Host: h.Name, Step: StepDone, Status: StatusInfo, Outcome: out, Message: msg})
	now := time.Now()
	return &HostReport{Host: h.Name, Address: h.Address, From: "?", To: ro.rel.Version, Outcome: out, Error: msg,
		Current: "?", Started: now, Finished: now}
}

// rollbackDeployed switches the hosts this rollout updated back to their
// previous release.
func (ro *rollout) rollbackDeployed(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	var wg sync.WaitGroup
	for name, rep := range ro.reports {
		if rep.Outcome != OutcomeDeployed {
			continue
		}
		run := ro.runs[name]
		wg.Add(1)
		go func() {
			defer wg.Done()
			run.rollback(ctx, "the rollout stopped: "+ro.stopReason)
			ro.mu.Lock()
			ro.reports[name] = run.rep
			ro.mu.Unlock()
		}()
	}
	wg.Wait()
}

// hostCount is "1 host", "3 hosts".
func hostCount(n int) string {
	if n == 1 {
		return "1 host"
	}
	return fmt.Sprintf("%d hosts", n)
}
