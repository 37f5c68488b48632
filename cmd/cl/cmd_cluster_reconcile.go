package main

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/celeroot/celeroot/agent"
	"github.com/celeroot/celeroot/deploy"
	"github.com/celeroot/celeroot/drift"
)

// ClusterReconcileCmd is `cl cluster reconcile`.
type ClusterReconcileCmd struct {
	DryRun bool `name:"dry-run" help:"Print the drift and what would be repaired; change nothing."`
}

// reconcileDoc is the JSON form of `cl cluster reconcile`.
type reconcileDoc struct {
	Drift   *drift.Report     `json:"drift"`
	DryRun  bool              `json:"dry_run"`
	Planned map[string]string `json:"planned"` // host → the SHA it is put back on
	Left    map[string]string `json:"left"`    // drifted hosts not repaired, with why
	Repair  *agent.Repair     `json:"repair,omitempty"`
}

// Run repairs drift (exit 0 repaired or nothing to do, 1 a repair failed).
func (c *ClusterReconcileCmd) Run(a *App) error {
	co, err := openCheckout(a, false)
	if err != nil {
		return err
	}
	defer co.Close()
	dc := co.driftCheck()
	doc := reconcileDoc{DryRun: c.DryRun}
	run := func(ctx context.Context) error {
		rep, err := dc.Check(ctx, co.head)
		if err != nil {
			return err
		}
		doc.Drift = rep
		doc.Planned, doc.Left = agent.Planned(rep)
		if c.DryRun || len(doc.Planned) == 0 {
			return nil
		}
		if !a.JSON() {
			fmt.Fprintf(a.Stderr, "repairing %s\n", describePlanned(doc.Planned))
		}
		doc.Repair, err = dc.Repair(ctx, rep)
		return err
	}
	if c.DryRun {
		err = run(a.Ctx)
	} else {
		err = deploy.Locked(a.Ctx, co.q, deploy.LockInfo{Version: co.head, Command: "cl cluster reconcile"},
			func(ctx context.Context, _ deploy.LockInfo) error { return run(ctx) })
	}
	if err != nil && doc.Repair == nil {
		return err
	}
	if perr := printReconcile(a, doc); perr != nil {
		return perr
	}
	if err != nil {
		return err
	}
	if doc.Repair != nil && !doc.Repair.OK() {
		return silentExit(ExitError)
	}
	return nil
}

func printReconcile(a *App, doc reconcileDoc) error {
	if a.JSON() {
		return a.PrintJSON(doc)
	}
	if err := doc.Drift.WriteText(a.Stdout); err != nil {
		return err
	}
	for _, h := range sortedKeys(doc.Left) {
		fmt.Fprintf(a.Stdout, "left alone: %s (%s)\n", h, doc.Left[h])
	}
	switch {
	case len(doc.Planned) == 0:
		fmt.Fprintln(a.Stdout, "nothing to repair")
	case doc.DryRun:
		fmt.Fprintf(a.Stdout, "would repair %s (dry run: nothing changed)\n", describePlanned(doc.Planned))
	case doc.Repair != nil:
		for _, h := range sortedKeys(doc.Repair.SHA) {
			r := doc.Repair.Hosts[h]
			if r.OK {
				fmt.Fprintf(a.Stdout, "repaired %s: back on %s\n", h, deploy.ShortVersion(doc.Repair.SHA[h]))
			} else {
				fmt.Fprintf(a.Stdout, "FAILED to repair %s: %s\n", h, r.Error)
			}
		}
	}
	return nil
}

func describePlanned(p map[string]string) string {
	var parts []string
	for _, h := range sortedKeys(p) {
		parts = append(parts, h+" → "+deploy.ShortVersion(p[h]))
	}
	return strings.Join(parts, ", ")
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
