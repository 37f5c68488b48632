package main

import (
	"fmt"
	"time"

	"github.com/celeroot/celeroot/dispatch"
	"github.com/celeroot/celeroot/queue"
)

// runResult is one run in the --wait summary: its host and its record.
type runResult = dispatch.RunView

// printSummary prints the final state of every run (runs[i] is the record
// of the i-th followed submission; skipped ones, which no worker could take,
// are read as they are now); it fails unless all succeeded.
func printSummary(a *App, q *queue.Queue, subs []*submission, skipped map[int]bool, runs []*queue.Run) error {
	ok := 0
	results := make([]runResult, 0, len(subs))
	next := 0
	for i, s := range subs {
		var r *queue.Run
		if skipped[i] {
			var err error
			if r, err = getRun(a, q, s.ID); err != nil {
				return err
			}
		} else {
			r, next = runs[next], next+1
		}
		results = append(results, dispatch.View(r))
		if r.State.Successful() {
			ok++
		}
	}
	if a.JSON() {
		if err := a.PrintJSON(results); err != nil {
			return err
		}
	} else {
		printResultTable(a, results)
		fmt.Fprintf(a.Stdout, "%d of %s succeeded\n", ok, plural(len(results), "run"))
	}
	if ok < len(results) {
		return silentExit(ExitError)
	}
	return nil
}

func printResultTable(a *App, results []runResult) {
	t := newTable(a.Stdout, "HOST", "TASK", "STATE", "EXIT", "TIME", "ID")
	for _, r := range results {
		t.row(r.Host, r.Task, r.State, r.ExitCode, runDuration(r.Run), r.ID)
	}
	_ = t.flush()
	for _, r := range results {
		if !r.State.Successful() && r.Reason != "" {
			fmt.Fprintln(a.Stdout, forTerminal(a.Stdout, fmt.Sprintf("%s: %s: %s", r.Host, r.State, r.Reason)))
		}
	}
}

// runDuration is how long the run ran, or "-" when it has not started or
// ended.
func runDuration(r *queue.Run) string {
	if r.StartedAt.IsZero() || r.FinishedAt.IsZero() {
		return "-"
	}
	d := r.FinishedAt.Sub(r.StartedAt)
	if d < time.Second {
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return d.Round(100 * time.Millisecond).String()
}
