package devfleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/celeroot/celeroot/agent"
	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/deploy"
	"github.com/celeroot/celeroot/hostexec"
	"github.com/celeroot/celeroot/httpserver"
	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/reconcile"
	gitsync "github.com/celeroot/celeroot/sync"
)

// Options configure Start.
type Options struct {
	// Config is cl.yaml as loaded from ConfigDir (overlay applied): it
	// names the cluster and the Redis cl dev serves.
	Config    *config.Config
	ConfigDir string // copied into a new dev repository
	Env       string
	Queue     *queue.Queue
	StateDir  string // holds clone/ (the agent's), hosts/ and, by default, repo/
	RepoDir   string // the dev repository; default StateDir/repo
	Listen    string // the agent's HTTP server; default 127.0.0.1:0
	Interval  time.Duration
	Grace     time.Duration
	Version   string
	Log       *slog.Logger
	// UI, when set, serves the dashboard under /ui/ of the agent's server
	// (cmd/cl passes dashboard.New).
	UI agent.UI
}

// Info is what runs, for the banner.
type Info struct {
	Repo        string `json:"repo"`
	RepoCreated bool   `json:"repo_created"`
	Branch      string `json:"branch"`
	Head        string `json:"head_sha"`
	Applied     string `json:"applied_sha"`
	ApplyError  string `json:"apply_error,omitempty"`
	AgentURL    string `json:"agent_url"`
	StatusURL   string `json:"status_url"`
	// DashboardURL is the dashboard's ("" without Options.UI).
	DashboardURL string   `json:"dashboard_url,omitempty"`
	Workers      []Worker `json:"workers"`
	Remote       []string `json:"remote_hosts"` // hosts without a local address: no worker
	Beat         *Beat    `json:"beat"`
}

// Dev is a running cl dev: the agent, its fleet and the beat.
type Dev struct {
	info  Info
	fleet *Fleet
	wg    sync.WaitGroup
}

// Start makes (or reuses) the dev repository, starts the beat, the agent
// and its HTTP server, and returns once the agent applied the repository's
// head (or failed to), the workers heartbeat and the beat campaigned. Every
// part stops when ctx ends; Wait waits for that.
func Start(ctx context.Context, o Options) (*Dev, error) {
	if o.RepoDir == "" {
		o.RepoDir = filepath.Join(o.StateDir, "repo")
	}
	if o.Listen == "" {
		o.Listen = "127.0.0.1:0"
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	repo, err := filepath.Abs(o.RepoDir)
	if err != nil {
		return nil, err
	}
	created, err := EnsureRepo(ctx, o.ConfigDir, repo)
	if err != nil {
		return nil, err
	}
	src, branch, err := openSource(ctx, repo, filepath.Join(o.StateDir, "clone"))
	if err != nil {
		return nil, err
	}
	head, err := src.Fetch(ctx)
	if err != nil {
		return nil, err
	}
	loader := &agent.Loader{Trees: src, Subdir: src.Subdir(), Env: o.Env}
	rev, err := loader.Revision(ctx, head)
	if err != nil {
		return nil, fmt.Errorf("cl dev: %w (fix it and commit in %s)", err, repo)
	}
	if err := sameCluster(o.Config, rev.Config, repo); err != nil {
		return nil, err
	}
	// A previous cl dev's workers and applied state died with its Redis:
	// its hosts run nothing now.
	hostsDir := filepath.Join(o.StateDir, "hosts")
	if old, _ := filepath.Glob(filepath.Join(hostsDir, "*", "current")); len(old) > 0 {
		for _, l := range old {
			_ = os.Remove(l)
		}
	}
	d := &Dev{info: Info{Repo: repo, RepoCreated: created, Branch: branch, Head: head, Remote: []string{}}}
	d.fleet = &Fleet{Queue: o.Queue, Releases: loader.Release, Dir: hostsDir, Version: o.Version, Grace: o.Grace, Log: o.Log}
	d.fleet.Start(ctx)
	for _, h := range rev.Config.Hosts.Values() {
		if !hostexec.IsLocal(h) {
			d.info.Remote = append(d.info.Remote, h.Name)
		}
	}
	beat, err := d.startBeat(ctx, o, rev)
	if err != nil {
		return nil, err
	}
	store := reconcile.DocStore{Docs: o.Queue}
	sched := agent.ScheduleStore{Queue: o.Queue, Source: "cl dev"}
	a := &agent.Agent{
		Source:  src,
		Planner: &agent.Planner{Revisions: loader, Store: store, Observer: d.fleet, Schedules: sched, Env: o.Env, Prune: true},
		Applier: &reconcile.Applier{Store: store, Deployer: d.fleet, Remover: d.fleet, Publisher: sched, Log: o.Log, Timings: o.Queue},
		Lock: func(ctx context.Context, sha string, fn func(context.Context) error) error {
			return deploy.Locked(ctx, o.Queue, deploy.LockInfo{Version: sha, Command: "cl dev"}, func(ctx context.Context, _ deploy.LockInfo) error { return fn(ctx) })
		},
		Log: o.Log, Status: agent.NewStatus(repo, branch), Metrics: agent.NewMetrics(),
		Opts: agent.Options{Interval: o.Interval, DriftInterval: 30 * time.Second, AutoApply: true, ApplyTimeout: 5 * time.Minute},
	}
	a.Before = agent.BackupBeforeApply(o.Queue, loader.Trees, o.Log)
	a.History = o.Queue
	// Applies are audited as cl agent's are (the trail of the cl.yaml cl dev
	// was started with: its audit.file is relative to that directory).
	if a.Audit, err = agent.NewAuditOptions(o.Config, o.Env, o.Queue, src); err != nil {
		return nil, fmt.Errorf("cl dev: %w", err)
	}
	if err := gitsync.Watch(ctx, repo, func() { a.Trigger() }); err != nil {
		o.Log.Warn("cl dev: not watching the dev repository: polling only", "repo", repo, "err", err)
	}
	var ui http.Handler
	if o.UI != nil {
		ui = o.UI(&agent.ReadModel{Agent: a, Store: store, Queue: o.Queue, Revisions: loader, Commits: src, Env: o.Env})
	}
	addr, err := d.serve(ctx, o.Listen, agent.Handler(a, store, nil, nil, ui))
	if err != nil {
		return nil, err
	}
	d.info.AgentURL = "http://" + addr
	d.info.StatusURL = d.info.AgentURL + "/api/v1/status"
	if ui != nil {
		d.info.DashboardURL = d.info.AgentURL + "/ui/"
	}
	d.wg.Go(func() { _ = a.Run(ctx) })
	d.waitApplied(ctx, a, store, head)
	beat.wait(ctx, o.Log)
	d.info.Beat = beat.info()
	return d, nil
}

// openSource opens the dev repository's branch as the agent's source,
// cloned into cloneDir.
func openSource(ctx context.Context, repo, cloneDir string) (*gitsync.Source, string, error) {
	wt, err := gitsync.Open(ctx, repo)
	if err != nil {
		return nil, "", fmt.Errorf("open the dev repository: %w", err)
	}
	branch, err := wt.Branch(ctx)
	if err != nil {
		return nil, "", err
	}
	src, err := gitsync.NewSource(gitsync.SourceOptions{URL: repo, Branch: branch, Dir: cloneDir, Path: wt.Subdir()})
	if err != nil {
		return nil, "", err
	}
	return src, branch, nil
}

// sameCluster refuses a dev repository whose head names another cluster or
// Redis than the one cl dev serves (read from the config directory).
func sameCluster(served, head *config.Config, repo string) error {
	switch {
	case served.Cluster.Name != head.Cluster.Name:
		return fmt.Errorf("cl dev serves cluster %q, but the dev repository %s names %q: commit the same cluster.name there, or pass another --repo", served.Cluster.Name, repo, head.Cluster.Name)
	case served.Redis.URL != head.Redis.URL:
		return fmt.Errorf("cl dev serves redis %s, but the dev repository %s names %s: commit the same redis.url there, or pass another --repo", config.MaskURL(served.Redis.URL), repo, config.MaskURL(head.Redis.URL))
	}
	return nil
}

// serve starts the agent's HTTP server on listen; it stops when ctx ends.
func (d *Dev) serve(ctx context.Context, listen string, h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return "", fmt.Errorf("cl dev: the agent cannot listen on %s: %w (choose another --listen)", listen, err)
	}
	srv := httpserver.New(h)
	d.wg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return
		}
	})
	d.wg.Go(func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	})
	return ln.Addr().String(), nil
}

// waitApplied waits (up to 60 s) until the agent applied head, or reported
// why it did not.
func (d *Dev) waitApplied(ctx context.Context, a *agent.Agent, store reconcile.Store, head string) {
	deadline := time.Now().Add(60 * time.Second)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		doc := a.Status.Doc(ctx, store, nil)
		d.info.Applied = doc.Applied
		switch {
		case doc.Applied == head:
			return
		case doc.PlanError != "":
			d.info.ApplyError = doc.PlanError
			return
		case doc.LastApply != nil && doc.LastApply.SHA == head && doc.LastApply.Error != "":
			d.info.ApplyError = doc.LastApply.Error
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Info describes what runs now.
func (d *Dev) Info() Info {
	in := d.info
	in.Workers = d.fleet.Workers()
	return in
}

// Wait returns when every part has stopped (after Start's ctx ended).
func (d *Dev) Wait() {
	d.wg.Wait()
	d.fleet.Wait()
}
