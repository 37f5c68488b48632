package main

import (
	"fmt"

	"github.com/celeroot/celeroot/deploy"
)

// printCheck prints `cl host deploy --check`: a row per host, the
// errors, and a summary line.
func printCheck(a *App, rel *deploy.Release, res []deploy.CheckResult, differ, down int) {
	t := newTable(a.Stdout, "HOST", "CURRENT", "WORKER", "WANTED", "STATUS")
	for _, r := range res {
		t.row(r.Host, short(r.Current), short(r.Worker), rel.Short(), r.Status())
	}
	t.flush()
	for _, r := range res {
		if r.Error != "" {
			fmt.Fprintf(a.Stdout, "%s: %s\n", r.Host, r.Error)
		}
	}
	fmt.Fprintf(a.Stdout, "%d of %s up to date with %s", len(res)-differ-down, plural(len(res), "host"), rel.Short())
	if down > 0 {
		fmt.Fprintf(a.Stdout, ", %d unreachable", down)
	}
	fmt.Fprintln(a.Stdout)
}
