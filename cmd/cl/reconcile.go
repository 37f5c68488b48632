package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/celeroot/celeroot/agent"
	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/deploy"
	"github.com/celeroot/celeroot/hostexec"
	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/reconcile"
	gitsync "github.com/celeroot/celeroot/sync"
)

// checkout is what `cl plan` and `cl apply` work from: the configuration
// of the work tree (for Redis and SSH), its repository and HEAD, and the
// cluster's Redis.
type checkout struct {
	cfg     *config.Config
	repo    *gitsync.WorkTree
	head    string
	q       *queue.Queue
	loader  *agent.Loader
	fleet   *agent.Fleet
	planner *agent.Planner
	store   reconcile.DocStore
}

// openCheckout loads cl.yaml, its git repository and the cluster's Redis.
func openCheckout(a *App, prune bool) (*checkout, error) {
	cfg, err := a.LoadConfig()
	if err != nil {
		return nil, err
	}
	repo, err := gitsync.Open(a.Ctx, filepath.Dir(a.ConfigPath))
	if err != nil {
		return nil, fmt.Errorf("%w: plans are made from commits (git init, then commit cl.yaml and tasks/)", err)
	}
	head, err := repo.Head(a.Ctx)
	if err != nil {
		return nil, err
	}
	if changed, err := repo.Changes(a.Ctx); err == nil && len(changed) > 0 {
		fmt.Fprintf(a.Stderr, "cl: %d uncommitted change(s) are not in the plan: it is made from HEAD %s (commit them first)\n", len(changed), deploy.ShortVersion(head))
	}
	q, err := openQueue(a, cfg)
	if err != nil {
		return nil, err
	}
	c := &checkout{cfg: cfg, repo: repo, head: head, q: q, store: reconcile.DocStore{Docs: q}}
	c.loader = &agent.Loader{Trees: repo, Subdir: repo.Subdir(), Env: a.Env}
	c.fleet = &agent.Fleet{Connect: connectFor(a), Releases: c.loader.Release, Queue: q, Env: a.Env, Log: a.Log}
	c.planner = &agent.Planner{Revisions: c.loader, Store: c.store, Observer: c.fleet, Schedules: c.fleet, Env: a.Env, Prune: prune}
	return c, nil
}

// driftCheck is the drift use-case on the checkout's fleet.
func (c *checkout) driftCheck() *agent.DriftCheck {
	return &agent.DriftCheck{Revisions: c.loader, Store: c.store, Fleet: c.fleet}
}

func (c *checkout) Close() {
	c.fleet.Close()
	c.q.Close()
}

// connectFor opens hosts with the CLI's SSH options.
func connectFor(a *App) agent.Connect {
	return func(cfg *config.Config) (deploy.Opener, func(), error) {
		opts := sshOptions(a, cfg)
		opts.KeepaliveInterval = deployKeepalive
		conn, err := hostexec.NewConnector(cfg, opts)
		if err != nil {
			return nil, nil, err
		}
		return conn, func() { conn.Close() }, nil
	}
}

// printPlan prints a plan as text (colored on a terminal) or JSON.
func printPlan(a *App, p *reconcile.Plan) error {
	if a.JSON() {
		return a.PrintJSON(p)
	}
	colors := reconcile.Colors{}
	if a.IsTTY() && os.Getenv("NO_COLOR") == "" {
		colors = reconcile.ANSI
	}
	return p.WriteText(a.Stdout, colors)
}
