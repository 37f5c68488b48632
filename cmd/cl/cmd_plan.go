package main

import (
	"fmt"
	"os"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/reconcile"
)

// PlanCmd is `cl plan` and `cl plan show`.
type PlanCmd struct {
	Make PlanMakeCmd `cmd:"" default:"withargs" hidden:"" help:"Plan HEAD of the config repository against the cluster."`
	Show PlanShowCmd `cmd:"" help:"Print a saved plan; warn when it is stale."`
}

// PlanMakeCmd plans HEAD of the work tree's repository.
type PlanMakeCmd struct {
	Out       string `placeholder:"FILE" help:"Save the plan (JSON) for cl apply FILE."`
	DriftOnly bool   `name:"drift-only" help:"Plan only the repair of drift (hosts changed outside celeroot)."`
	Prune     bool   `help:"Plan the removal of hosts that left cl.yaml (off by default)."`
}

// Run plans; exit 0 no changes, 2 changes, 1 error.
func (c *PlanMakeCmd) Run(a *App) error {
	co, err := openCheckout(a, c.Prune)
	if err != nil {
		return err
	}
	defer co.Close()
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

// PlanShowCmd prints a saved plan.
type PlanShowCmd struct {
	File string `arg:"" type:"existingfile" help:"A plan saved by cl plan --out."`
}

// Run prints the plan and warns when the cluster moved since it was made.
func (c *PlanShowCmd) Run(a *App) error {
	p, err := readPlan(c.File)
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
