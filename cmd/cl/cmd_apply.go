package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/celeroot/celeroot/deploy"
	"github.com/celeroot/celeroot/reconcile"
)

// ApplyCmd is `cl apply`.
type ApplyCmd struct {
	File        string `arg:"" optional:"" type:"existingfile" help:"A plan saved by cl plan --out (default: plan HEAD now)."`
	AutoApprove bool   `name:"auto-approve" help:"Apply without asking."`
	Abort       bool   `help:"Stop the apply (or deploy) in progress: its hosts keep or get back their old release."`
	Prune       bool   `help:"Remove hosts that left cl.yaml (when planning now)."`
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
	applier := &reconcile.Applier{Store: co.store, Deployer: co.fleet, Publisher: co.fleet, Log: a.Log}
	var res *reconcile.Result
	err = deploy.Locked(a.Ctx, co.q, deploy.LockInfo{Version: p.To, Command: "cl apply " + p.ID}, func(ctx context.Context, _ deploy.LockInfo) error {
		var err error
		res, err = applier.Apply(ctx, p, rev)
		return err
	})
	if res != nil && !a.JSON() {
		fmt.Fprintf(a.Stdout, "apply %s: %s\n", p.ID, applyLine(res))
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
		st, err := co.store.Load(a.Ctx)
		if err != nil {
			return nil, err
		}
		if err := reconcile.CheckFresh(p, st); err != nil {
			return nil, err
		}
		first, err := co.store.UsePlan(a.Ctx, p.ID)
		if err != nil {
			return nil, err
		}
		if !first {
			return nil, fmt.Errorf("plan %s was applied already (a saved plan is single-use): run cl plan again", p.ID)
		}
		return p, nil
	}
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

// abort clears the lock of the apply or deploy in progress: its holder
// sees the lock lost and stops (hosts in flight keep or get back their old
// release).
func (c *ApplyCmd) abort(a *App) error {
	_, q, err := loadQueue(a)
	if err != nil {
		return err
	}
	defer q.Close()
	info, _, err := deploy.ReadLock(a.Ctx, q)
	if err != nil {
		return err
	}
	if info == nil {
		fmt.Fprintln(a.Stderr, "no apply or deploy in progress")
		return nil
	}
	if _, err := deploy.ForceUnlock(a.Ctx, q, info.ID); err != nil {
		return err
	}
	fmt.Fprintf(a.Stdout, "aborted %s (%s, %s since %s): it stops now; hosts in flight keep or get back their old release\n",
		info.ID, info.Command, info.Holder, info.Started.Format("15:04:05"))
	return nil
}

func applyLine(res *reconcile.Result) string {
	var b strings.Builder
	ok := 0
	for _, h := range res.Hosts {
		if h.OK {
			ok++
		}
	}
	if res.OK {
		fmt.Fprintf(&b, "applied %s (generation %d)", deploy.ShortVersion(res.SHA), res.State.Generation)
	} else {
		fmt.Fprintf(&b, "FAILED %s: %s", deploy.ShortVersion(res.SHA), res.Error)
	}
	if len(res.Hosts) > 0 {
		fmt.Fprintf(&b, "; %d of %d host(s) deployed", ok, len(res.Hosts))
	}
	if len(res.Removed) > 0 {
		fmt.Fprintf(&b, "; removed %s", strings.Join(res.Removed, ", "))
	}
	if res.Reloaded {
		b.WriteString("; scheduler reloaded")
	}
	return b.String()
}
