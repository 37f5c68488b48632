package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"

	"github.com/celeroot/celeroot/agent"
	"github.com/celeroot/celeroot/deploy"
	"github.com/celeroot/celeroot/reconcile"
)

// ApplyCmd is `cl apply`.
type ApplyCmd struct {
	File        string `arg:"" optional:"" type:"existingfile" help:"A plan saved by cl plan --out (default: plan HEAD now)."`
	AutoApprove bool   `name:"auto-approve" help:"Apply without asking."`
	Abort       bool   `help:"Stop the apply (or deploy) in progress: its hosts keep or get back their old release."`
	Prune       bool   `help:"Remove hosts that left cl.yaml (when planning now)."`
	Cluster     string `placeholder:"FLEET" help:"Plan and apply one blue-green fleet only (when planning now): its hosts, no scheduler reload, the cluster's applied SHA stays."`
}

// Run applies a plan under the deploy lock; exit 0 applied (or nothing to
// do), 1 failed or refused.
func (c *ApplyCmd) Run(a *App) error {
	if c.Abort {
		return c.abort(a)
	}
	co, err := openCheckout(a, c.Prune)
	if err != nil {
		return err
	}
	defer co.Close()
	p, err := c.plan(a, co)
	if err != nil || p == nil {
		return err
	}
	rev, err := co.loader.Revision(a.Ctx, p.To)
	if err != nil {
		return err
	}
	co.fleet.Report = func(rep *deploy.Report) { _ = printDeployReport(a, rep) }
	applier := &reconcile.Applier{Store: co.store, Deployer: co.fleet, Publisher: co.fleet, Log: a.Log, Timings: co.q}
	var res *reconcile.Result
	err = deploy.Locked(a.Ctx, co.q, deploy.LockInfo{Version: p.To, Command: "cl apply " + p.ID}, func(ctx context.Context, _ deploy.LockInfo) error {
		if err := agent.BackupBeforeApply(co.q, co.loader.Trees, a.Log)(ctx, rev); err != nil {
			return err
		}
		var err error
		res, err = applier.Apply(ctx, p, rev)
		return err
	})
	if res != nil && !a.JSON() {
		fmt.Fprintf(a.Stdout, "apply %s: %s\n", p.ID, res.Summary())
	}
	if res != nil && a.JSON() {
		if perr := a.PrintJSON(res); perr != nil {
			return perr
		}
	}
	if errors.Is(err, reconcile.ErrApplyFailed) {
		return silentExit(ExitError)
	}
	return err
}

// plan returns the saved plan (refused when used or stale) or a new one,
// confirmed; nil when there is nothing to do.
func (c *ApplyCmd) plan(a *App, co *checkout) (*reconcile.Plan, error) {
	if c.File != "" {
		p, err := readPlan(c.File)
		if err != nil {
			return nil, err
		}
		if c.Cluster != "" && c.Cluster != p.Fleet {
			return nil, fmt.Errorf("--cluster %s: the saved plan %s covers %s: plan again with cl plan --cluster %s", c.Cluster, c.File, fleetLabel(p.Fleet), c.Cluster)
		}
		return p, reconcile.UseSaved(a.Ctx, co.store, p)
	}
	co.planner.Fleet = c.Cluster
	rev, err := co.loader.Revision(a.Ctx, co.head)
	if err != nil {
		return nil, err
	}
	p, err := co.planner.Plan(a.Ctx, rev, false)
	if err != nil {
		return nil, err
	}
	if !a.JSON() {
		if err := printPlan(a, p); err != nil {
			return nil, err
		}
	}
	if p.Empty() {
		return nil, nil
	}
	if !c.AutoApprove {
		if !isTerminal(a.Stdin) {
			return nil, fmt.Errorf("not applying without confirmation: run on a terminal, or pass --auto-approve")
		}
		if !ask(a, bufio.NewReader(a.Stdin), "apply this plan? [y/N] ", "n", "y") {
			return nil, fmt.Errorf("not applied")
		}
	}
	return p, nil
}

func fleetLabel(f string) string {
	if f == "" {
		return "every fleet"
	}
	return "fleet " + f
}
