package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/deploy"
	"github.com/celeroot/celeroot/hostexec"
	"github.com/celeroot/celeroot/queue"
)

// deployKeepalive is the SSH keepalive period during deploys.
const deployKeepalive = 5 * time.Second

// HostDeployCmd is `cl host deploy`.
type HostDeployCmd struct {
	selectFlags
	Strategy          string `placeholder:"all|rolling|canary" help:"Rollout strategy (default: deployment.strategy)."`
	Batch             string `placeholder:"N|N%" help:"Rolling batch size: hosts or a percentage of them (default: deployment.batch)."`
	MaxFail           *int   `name:"max-fail" placeholder:"N" help:"Failed hosts tolerated before the rollout stops (default: deployment.max_fail)."`
	Canary            int    `placeholder:"N" help:"Hosts in the canary batch (default: deployment.canary)."`
	Parallel          int    `default:"32" placeholder:"N" help:"Hosts deployed at once at most."`
	Check             bool   `help:"Only compare each host's release with the wanted one; exit 2 when any differs."`
	AllowDirty        bool   `name:"allow-dirty" help:"Deploy uncommitted changes (version <sha>-dirty-<hash>)."`
	RollbackOnFailure bool   `name:"rollback-on-failure" help:"When the rollout stops, switch the hosts it updated back too."`
	ForceUnlock       string `name:"force-unlock" placeholder:"ID" help:"Clear a stale deploy lock with this id (then deploy, if hosts are selected)."`
	Verify            bool   `help:"Refuse to deploy unless the configuration's signature and HEAD's commit signature (when signed) verify (docs/security.md)."`
}

// Run deploys (or checks) the selected hosts.
func (c *HostDeployCmd) Run(a *App) error {
	sel := c.selectFlags
	if c.ForceUnlock != "" && len(sel.Target) == 0 && sel.Role == "" && len(sel.Tags) == 0 && !sel.All {
		return c.unlockOnly(a)
	}
	if c.Verify {
		if err := c.verify(a); err != nil {
			return err
		}
	}
	cfg, hosts, err := selectHosts(a, sel, c.Check)
	if err != nil {
		return err
	}
	if c.Strategy != "" && !deploy.Strategy(c.Strategy).Valid() {
		return fmt.Errorf("--strategy %q: use all, rolling or canary", c.Strategy)
	}
	repo, err := openRepo(a)
	if err != nil {
		return err
	}
	rel, err := deploy.FromWorkTree(a.Ctx, deploy.WorkTreeOptions{ConfigPath: a.ConfigPath, Repo: repo, AllowDirty: c.AllowDirty})
	if err != nil {
		return err
	}
	// A host that dies mid-deploy is noticed within 3 keepalives (15 s).
	opts := sshOptions(a, cfg)
	opts.KeepaliveInterval = deployKeepalive
	conn, err := hostexec.NewConnector(cfg, opts)
	if err != nil {
		return err
	}
	defer conn.Close()
	e := &deploy.Engine{Config: cfg, Env: a.Env, Hosts: conn, Log: a.Log}
	if c.Check {
		return c.check(a, cfg, e, rel, hosts)
	}
	q, err := openQueue(a, cfg)
	if err != nil {
		return err
	}
	defer q.Close()
	e.Heartbeats = q
	return c.deploy(a, q, e, rel, hosts)
}

func (c *HostDeployCmd) deploy(a *App, q *queue.Queue, e *deploy.Engine, rel *deploy.Release, hosts []*config.Host) error {
	if c.ForceUnlock != "" {
		if err := forceUnlock(a, q, c.ForceUnlock); err != nil {
			return err
		}
	}
	command := "cl " + strings.Join(os.Args[1:], " ")
	return deploy.Locked(a.Ctx, q, deploy.LockInfo{Version: rel.Version, Command: command}, func(ctx context.Context, lock deploy.LockInfo) error {
		view := newDeployView(a, rel, hosts)
		e.Events = view.event
		rep, err := e.Deploy(ctx, rel, hosts, deploy.Options{Strategy: deploy.Strategy(c.Strategy), Batch: c.Batch, MaxFail: c.MaxFail,
			Canary: c.Canary, Parallel: c.Parallel, RollbackOnFailure: c.RollbackOnFailure, ID: lock.ID, Command: command})
		view.close()
		if rep == nil {
			return err
		}
		if perr := printDeployReport(a, rep); perr != nil {
			return perr
		}
		if err != nil && !rep.Interrupted {
			return silentExit(ExitError)
		}
		return err
	})
}

// check compares the hosts with the release: exit 2 when any differs, 1
// when any cannot be reached.
func (c *HostDeployCmd) check(a *App, cfg *config.Config, e *deploy.Engine, rel *deploy.Release, hosts []*config.Host) error {
	if q, err := openQueue(a, cfg); err == nil {
		defer q.Close()
		e.Heartbeats = q
	} else {
		fmt.Fprintf(a.Stderr, "cl: no heartbeats (%v): comparing releases on the hosts only\n", err)
	}
	progress := newProgress(a, "checking")
	progress.update(0, len(hosts), "")
	res := e.Check(a.Ctx, rel.Version, hosts, c.Parallel)
	progress.done()
	differ, down := deploy.CheckCounts(res)
	if a.JSON() {
		if err := a.PrintJSON(map[string]any{"version": rel.Version, "dirty": rel.Dirty, "hosts": res}); err != nil {
			return err
		}
	} else {
		printCheck(a, rel, res, differ, down)
	}
	switch {
	case down > 0:
		return silentExit(ExitError)
	case differ > 0:
		return silentExit(ExitChanges)
	}
	return nil
}

// verify refuses an unsigned or wrongly signed configuration or commit.
func (c *HostDeployCmd) verify(a *App) error {
	cfg, err := a.LoadConfig()
	if err != nil {
		return err
	}
	rep, err := verifySignatures(a.Ctx, cfg)
	if err != nil {
		return fmt.Errorf("deploy refused (--verify): %w", err)
	}
	fmt.Fprintf(a.Stderr, "cl: %s\n", rep)
	return nil
}
