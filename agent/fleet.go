package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/deploy"
	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/reconcile"
	"github.com/celeroot/celeroot/schedule"
)

// Connect opens the hosts of a configuration (hostexec.NewConnector with
// the CLI's SSH options); close releases the connections.
type Connect func(cfg *config.Config) (hosts deploy.Opener, close func(), err error)

// Releases builds the release of a commit.
type Releases func(ctx context.Context, sha string) (*deploy.Release, error)

// Fleet drives the hosts and the beats for reconcile: it observes hosts and
// deploys them with the deploy engine, and publishes schedule sets.
type Fleet struct {
	Connect  Connect
	Releases Releases
	Queue    *queue.Queue
	Env      string
	Log      *slog.Logger
	Binaries *deploy.Binaries
	Events   func(deploy.Event) // deploy progress (nil: none)
	Parallel int
	// Report receives each deploy's report (nil: dropped).
	Report func(*deploy.Report)
	// Store and Revisions find removed hosts where they were applied.
	Store     reconcile.Store
	Revisions Revisions

	mu     sync.Mutex
	key    string // connectionKey of the configuration the open connections are for
	hosts  deploy.Opener
	closer func()
}

// opener returns the hosts of cfg, keeping the connections open between
// calls (the observation before a plan and the apply after it, and the
// next commit's, share their SSH connections; dead ones are redialled) as
// long as what they were opened with — the ssh section and every host's
// address, connection and ssh settings — is the same, and closing them
// when that changes.
func (f *Fleet) opener(cfg *config.Config) (deploy.Opener, error) {
	key := connectionKey(cfg)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.key == key && f.hosts != nil {
		return f.hosts, nil
	}
	f.closeLocked()
	hosts, closeHosts, err := f.Connect(cfg)
	if err != nil {
		return nil, err
	}
	f.key, f.hosts, f.closer = key, hosts, closeHosts
	return hosts, nil
}

// connectionKey is what the connections to cfg's hosts depend on: a
// commit that changes only tasks, schedules or roles keeps them.
func connectionKey(cfg *config.Config) string {
	type conn struct {
		Address, Connection string
		SSH                 config.HostSSH
	}
	hosts := map[string]conn{}
	for _, h := range cfg.Hosts.Values() {
		hosts[h.Name] = conn{h.Address, h.Connection, h.SSH}
	}
	b, err := json.Marshal(struct {
		SSH   config.SSH
		Hosts map[string]conn
	}{cfg.SSH, hosts})
	if err != nil { // cannot happen with these types; never share then
		return fmt.Sprintf("%p", cfg)
	}
	return string(b)
}

// Close closes the connections the fleet keeps.
func (f *Fleet) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closeLocked()
}

func (f *Fleet) closeLocked() {
	if f.closer != nil {
		f.closer()
	}
	f.key, f.hosts, f.closer = "", nil, nil
}

func (f *Fleet) engine(cfg *config.Config) (*deploy.Engine, func(), error) {
	hosts, err := f.opener(cfg)
	if err != nil {
		return nil, nil, err
	}
	closeHosts := func() {} // kept for the next call (see opener)
	if f.Binaries == nil {
		f.Binaries = &deploy.Binaries{}
	}
	e := &deploy.Engine{Config: cfg, Env: f.Env, Hosts: hosts, Heartbeats: f.Queue, Binaries: f.Binaries, Log: f.Log, Events: f.Events}
	return e, closeHosts, nil
}

// Observe reads the release `current` points to and the release each
// worker heartbeats, for every host of cfg.
func (f *Fleet) Observe(ctx context.Context, cfg *config.Config) map[string]reconcile.Observation {
	out := map[string]reconcile.Observation{}
	e, closeHosts, err := f.engine(cfg)
	if err != nil {
		for _, h := range cfg.Hosts.Keys() {
			out[h] = reconcile.Observation{Error: err.Error()}
		}
		return out
	}
	defer closeHosts()
	for _, r := range e.Check(ctx, "", cfg.Hosts.Values(), f.Parallel) {
		out[r.Host] = reconcile.Observation{Reachable: r.Reachable, Current: r.Current, Worker: r.Worker, Error: r.Error}
	}
	return out
}

// Deploy rolls rev out to hosts with the configured strategy.
func (f *Fleet) Deploy(ctx context.Context, rev *reconcile.Revision, hosts []string) (map[string]reconcile.HostResult, error) {
	return f.deploy(ctx, rev, hosts, false)
}

// deploy rolls rev out to hosts; repair redeploys hosts that already run
// it (deploy.Options.Repair).
func (f *Fleet) deploy(ctx context.Context, rev *reconcile.Revision, hosts []string, repair bool) (map[string]reconcile.HostResult, error) {
	rel, err := f.Releases(ctx, rev.SHA)
	if err != nil {
		return nil, err
	}
	e, closeHosts, err := f.engine(rev.Config)
	if err != nil {
		return nil, err
	}
	defer closeHosts()
	var targets []*config.Host
	for _, name := range hosts {
		h, ok := rev.Config.Hosts.Get(name)
		if !ok {
			return nil, fmt.Errorf("deploy %s: not declared at %s", name, short(rev.SHA))
		}
		targets = append(targets, h)
	}
	cmd := "cl agent"
	if repair {
		cmd = "drift repair"
	}
	rep, err := e.Deploy(ctx, rel, targets, deploy.Options{Parallel: f.Parallel, Command: cmd, Repair: repair})
	if rep == nil {
		return nil, err
	}
	if f.Report != nil {
		f.Report(rep)
	}
	out := map[string]reconcile.HostResult{}
	for _, h := range rep.Hosts {
		r := reconcile.HostResult{OK: h.Outcome.Successful()}
		if !r.OK {
			r.Error = string(h.Outcome)
			if h.FailedStep != "" {
				r.Error += " at " + string(h.FailedStep)
			}
			if h.Error != "" {
				r.Error += ": " + h.Error
			}
		}
		out[h.Host] = r
	}
	return out, err
}

// PublishSchedules publishes rev's schedule set to the beats (ScheduleStore,
// source "agent").
func (f *Fleet) PublishSchedules(ctx context.Context, rev *reconcile.Revision) error {
	return ScheduleStore{Queue: f.Queue, Source: "agent"}.PublishSchedules(ctx, rev)
}

// Published returns the schedule set the beats run (nil: none).
func (f *Fleet) Published(ctx context.Context) (*schedule.Set, error) {
	return ScheduleStore{Queue: f.Queue}.Published(ctx)
}

// Remove stops and disables the worker of a host that left cl.yaml, found
// in the revision last applied to it (its releases stay).
func (f *Fleet) Remove(ctx context.Context, host string) error {
	if f.Store == nil || f.Revisions == nil {
		return fmt.Errorf("remove %s: the fleet has no applied state to find it in", host)
	}
	st, err := f.Store.Load(ctx)
	if err != nil {
		return err
	}
	sha := st.Hosts[host].SHA
	if sha == "" {
		sha = st.SHA
	}
	rev, err := f.Revisions.Revision(ctx, sha)
	if err != nil {
		return fmt.Errorf("remove %s: read the revision it was applied at (%s): %w", host, short(sha), err)
	}
	h, ok := rev.Config.Hosts.Get(host)
	if !ok {
		return fmt.Errorf("remove %s: not declared at %s, where it was applied", host, short(sha))
	}
	e, closeHosts, err := f.engine(rev.Config)
	if err != nil {
		return err
	}
	defer closeHosts()
	_, err = e.StopWorker(ctx, h, false)
	return err
}
