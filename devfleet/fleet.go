package devfleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/deploy"
	"github.com/celeroot/celeroot/hostexec"
	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/reconcile"
	"github.com/celeroot/celeroot/worker"
)

// ErrNotLocal is matched by the deploy error of a host cl dev cannot run.
var ErrNotLocal = errors.New("not a local host: cl dev runs workers only for hosts with a loopback address or connection: local (give it one in environments/dev.yaml)")

// Fleet is the hosts of cl dev: one in-process worker per local host, run
// from releases exported under Dir. It is the agent's Observer and
// Schedules, and reconcile's Deployer, Remover and Publisher. Start binds
// it to the lifetime of its workers; Wait waits for them after that ends.
type Fleet struct {
	Queue    *queue.Queue
	Releases func(ctx context.Context, sha string) (*deploy.Release, error)
	Dir      string        // hosts' directories: Dir/<host>/releases/<sha>, Dir/<host>/current
	Version  string        // cl's version, in heartbeats
	Grace    time.Duration // running tasks' grace when a worker is restarted or stopped
	Log      *slog.Logger
	// HealthTimeout bounds how long a restarted worker has to heartbeat
	// its new SHA before the host is rolled back (default 15 s).
	HealthTimeout time.Duration

	mu    sync.Mutex
	ctx   context.Context
	hosts map[string]*running
	used  map[string]bool // health addresses handed out
	wg    sync.WaitGroup
}

// running is a host's worker.
type running struct {
	sha, dir     string
	cfg          *config.Config
	addr, health string // health listen address ("-": off) and URL
	stop         context.CancelFunc
	done         chan struct{}
}

// Worker describes a host's worker.
type Worker struct {
	Host   string `json:"host"`
	Role   string `json:"role"`
	Slots  int    `json:"slots"`
	SHA    string `json:"sha"`              // the release it runs
	Health string `json:"health,omitempty"` // URL of its health endpoint
}

// Start binds the fleet's workers to ctx: they stop when it ends.
func (f *Fleet) Start(ctx context.Context) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ctx, f.hosts, f.used = ctx, map[string]*running{}, map[string]bool{}
}

// Wait returns when every worker has stopped (after Start's ctx ended).
func (f *Fleet) Wait() { f.wg.Wait() }

// Workers lists the running workers, sorted by host.
func (f *Fleet) Workers() []Worker {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []Worker{}
	for name, r := range f.hosts {
		h, _ := r.cfg.Hosts.Get(name)
		w := Worker{Host: name, SHA: r.sha, Health: r.health}
		if h != nil {
			w.Role = h.Role
			if role, ok := r.cfg.Workers.Get(h.Role); ok {
				w.Slots = role.Concurrency
			}
		}
		out = append(out, w)
	}
	sortWorkers(out)
	return out
}

// Observe reads, for every host of cfg, the release its `current` points
// to and the release its worker heartbeats.
func (f *Fleet) Observe(ctx context.Context, cfg *config.Config) map[string]reconcile.Observation {
	out := map[string]reconcile.Observation{}
	for _, h := range cfg.Hosts.Values() {
		if !hostexec.IsLocal(h) {
			out[h.Name] = reconcile.Observation{Error: ErrNotLocal.Error()}
			continue
		}
		o := reconcile.Observation{Reachable: true}
		if t, err := os.Readlink(filepath.Join(f.Dir, h.Name, "current")); err == nil {
			o.Current = filepath.Base(t)
		}
		switch hb, ok, err := f.Queue.Worker(ctx, h.Name); {
		case err != nil:
			o.Worker = "?"
		case ok:
			o.Worker = hb.SHA
		}
		out[h.Name] = o
	}
	return out
}

// Deploy puts rev on hosts, all at once: export, switch, restart, wait for
// the heartbeat; a host whose worker does not report the SHA in time is
// rolled back to its previous release.
func (f *Fleet) Deploy(ctx context.Context, rev *reconcile.Revision, hosts []string) (map[string]reconcile.HostResult, error) {
	rel, err := f.Releases(ctx, rev.SHA)
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	out := map[string]reconcile.HostResult{}
	for _, name := range hosts {
		wg.Go(func() {
			r := reconcile.HostResult{OK: true}
			if err := f.deployHost(ctx, rev, rel, name); err != nil {
				r = reconcile.HostResult{Error: err.Error()}
			}
			mu.Lock()
			out[name] = r
			mu.Unlock()
		})
	}
	wg.Wait()
	return out, nil
}

func (f *Fleet) deployHost(ctx context.Context, rev *reconcile.Revision, rel *deploy.Release, name string) error {
	h, ok := rev.Config.Hosts.Get(name)
	if !ok {
		return fmt.Errorf("deploy %s: not declared at %s", name, deploy.ShortVersion(rev.SHA))
	}
	if !hostexec.IsLocal(h) {
		return fmt.Errorf("deploy %s: %w", name, ErrNotLocal)
	}
	dir, err := f.export(rel, name)
	if err != nil {
		return fmt.Errorf("deploy %s: %w", name, err)
	}
	f.mu.Lock()
	prev := f.hosts[name]
	f.mu.Unlock()
	if err := f.switchCurrent(name, rev.SHA); err != nil {
		return fmt.Errorf("deploy %s: %w", name, err)
	}
	started := f.restart(name, rev.Config, dir, rev.SHA)
	err = f.waitSHA(ctx, name, rev.SHA, started)
	if err == nil {
		return nil
	}
	if prev != nil {
		_ = f.switchCurrent(name, prev.sha)
		f.restart(name, prev.cfg, prev.dir, prev.sha)
		return fmt.Errorf("deploy %s: %w; rolled back to %s", name, err, deploy.ShortVersion(prev.sha))
	}
	return fmt.Errorf("deploy %s: %w", name, err)
}

// export writes the release into Dir/<host>/releases/<version> (once: a
// release directory is never changed) and returns that directory.
func (f *Fleet) export(rel *deploy.Release, host string) (string, error) {
	final := filepath.Join(f.Dir, host, "releases", rel.Version)
	if _, err := os.Stat(final); err == nil {
		return final, nil
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return "", fmt.Errorf("create the releases directory: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(final), ".new-")
	if err != nil {
		return "", fmt.Errorf("stage release %s: %w", deploy.ShortVersion(rel.Version), err)
	}
	for _, file := range rel.Files {
		p := filepath.Join(tmp, filepath.FromSlash(file.Path))
		err := os.MkdirAll(filepath.Dir(p), 0o755)
		if err == nil && file.Mode.IsSymlink() {
			err = os.Symlink(file.Target, p)
		} else if err == nil {
			err = os.WriteFile(p, file.Data, file.Mode.Perm())
		}
		if err != nil {
			_ = os.RemoveAll(tmp)
			return "", fmt.Errorf("stage release %s: %w", deploy.ShortVersion(rel.Version), err)
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		_ = os.RemoveAll(tmp)
		if _, serr := os.Stat(final); serr == nil {
			return final, nil // staged by another deploy meanwhile
		}
		return "", fmt.Errorf("stage release %s: %w", deploy.ShortVersion(rel.Version), err)
	}
	return final, nil
}

// switchCurrent points Dir/<host>/current at releases/<sha>, atomically.
func (f *Fleet) switchCurrent(host, sha string) error {
	link := filepath.Join(f.Dir, host, "current")
	tmp := link + ".new"
	_ = os.Remove(tmp)
	if err := os.Symlink(filepath.Join("releases", sha), tmp); err != nil {
		return fmt.Errorf("switch current to %s: %w", deploy.ShortVersion(sha), err)
	}
	if err := os.Rename(tmp, link); err != nil {
		return fmt.Errorf("switch current to %s: %w", deploy.ShortVersion(sha), err)
	}
	return nil
}

// restart stops the host's worker (its running tasks get Grace) and starts
// one on cfg from dir; it returns when the new one was started.
func (f *Fleet) restart(name string, cfg *config.Config, dir, sha string) time.Time {
	f.mu.Lock()
	old := f.hosts[name]
	f.mu.Unlock()
	if old != nil {
		old.stop()
		<-old.done
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	r := &running{sha: sha, dir: dir, cfg: cfg, done: make(chan struct{})}
	if old != nil {
		r.addr, r.health = old.addr, old.health
	} else {
		h, _ := cfg.Hosts.Get(name)
		r.addr, r.health = healthAddr(cfg, h, f.used)
	}
	wctx, stop := context.WithCancel(f.ctx)
	r.stop = stop
	opts := worker.Options{Config: cfg, Host: name, Queue: f.Queue, ReleaseDir: dir, SHA: sha, Version: f.Version,
		HealthAddr: r.addr, Logger: f.Log, Grace: f.Grace}
	started := time.Now()
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		defer close(r.done)
		supervise(wctx, f.Log, "worker "+name, func(ctx context.Context) error { return worker.Run(ctx, opts) })
	}()
	f.hosts[name] = r
	return started
}

// waitSHA waits until a worker of host started after since heartbeats sha.
func (f *Fleet) waitSHA(ctx context.Context, host, sha string, since time.Time) error {
	timeout := f.HealthTimeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	deadline := time.Now().Add(timeout)
	for {
		hb, ok, err := f.Queue.Worker(ctx, host)
		if err == nil && ok && hb.SHA == sha && !hb.Started.Before(since.Truncate(time.Millisecond)) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("its worker did not report %s within %s (see the log of cl dev)", deploy.ShortVersion(sha), timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Remove stops the worker of a host that left cl.yaml; its releases stay.
func (f *Fleet) Remove(ctx context.Context, host string) error {
	f.mu.Lock()
	r := f.hosts[host]
	delete(f.hosts, host)
	f.mu.Unlock()
	if r == nil {
		return nil
	}
	r.stop()
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("remove %s: its worker did not stop: %w", host, ctx.Err())
	}
}
