package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/reconcile"
)

// PlanCmd is `cl plan` and `cl plan show FILE`.
type PlanCmd struct {
	Show      []string `arg:"" optional:"" placeholder:"show FILE" help:"Print a saved plan (cl plan show FILE) and warn when it is stale."`
	Out       string   `placeholder:"FILE" help:"Save the plan (JSON) for cl apply FILE."`
	DriftOnly bool     `name:"drift-only" help:"Plan only the repair of drift (hosts changed outside celeroot)."`
	Prune     bool     `help:"Plan the removal of hosts that left cl.yaml (off by default)."`
	Cluster   string   `placeholder:"FLEET" help:"Plan one blue-green fleet only: its hosts, no scheduler reload; its apply records the fleet's SHA, not the cluster's."`
}

// Run plans HEAD of the work tree's repository (exit 0 no changes, 2
// changes, 1 error), or shows a saved plan.
func (c *PlanCmd) Run(a *App) error {
	switch {
	case len(c.Show) == 2 && c.Show[0] == "show":
		return showPlan(a, c.Show[1])
	case len(c.Show) > 0:
		return fmt.Errorf("cl plan %s: use cl plan [--out FILE] or cl plan show FILE", strings.Join(c.Show, " "))
	}
	co, err := openCheckout(a, c.Prune)
	if err != nil {
		return err
	}
	defer co.Close()
	co.planner.Fleet = c.Cluster
	rev, err := co.loader.Revision(a.Ctx, co.head)
	if err != nil {
		return err
	}
	p, err := co.planner.Plan(a.Ctx, rev, c.DriftOnly)
	if err != nil {
		return err
	}
	if c.Out != "" {
		b, err := p.Encode()
		if err != nil {
			return err
		}
		if err := config.WriteFileAtomic(c.Out, append(b, '\n'), 0o600); err != nil {
			return fmt.Errorf("save the plan: %w", err)
		}
	}
	if err := printPlan(a, p); err != nil {
		return err
	}
	if c.Out != "" && !a.JSON() {
		fmt.Fprintf(a.Stderr, "saved to %s: apply it with cl apply %s\n", c.Out, c.Out)
	}
	if !p.Empty() {
		return silentExit(ExitChanges)
	}
	return nil
}

// showPlan prints a saved plan and warns when the cluster moved since it
// was made.
func showPlan(a *App, file string) error {
	p, err := readPlan(file)
	if err != nil {
		return err
	}
	if err := printPlan(a, p); err != nil {
		return err
	}
	_, q, err := loadQueue(a)
	if err != nil {
		fmt.Fprintf(a.Stderr, "cl: cannot tell whether the plan is stale: %v\n", err)
		return nil
	}
	defer q.Close()
	st, err := reconcile.DocStore{Docs: q}.Load(a.Ctx)
	if err == nil {
		err = reconcile.CheckFresh(p, st)
	}
	if err != nil {
		fmt.Fprintf(a.Stderr, "warning: %v\n", err)
	}
	return nil
}

func readPlan(file string) (*reconcile.Plan, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	p, err := reconcile.DecodePlan(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return p, nil
}
