package main

import (
	"fmt"
	"time"

	"github.com/celeroot/celeroot/agent"
)

// ClusterStatusCmd is `cl cluster status`.
type ClusterStatusCmd struct{}

// Run prints the cluster's status; exit 1 when a host or a worker is down.
func (c *ClusterStatusCmd) Run(a *App) error {
	co, err := openCheckout(a, false)
	if err != nil {
		return err
	}
	defer co.Close()
	st, err := co.driftCheck().Status(a.Ctx, co.head)
	if err != nil {
		return err
	}
	if a.JSON() {
		err = a.PrintJSON(st)
	} else {
		err = printClusterStatus(a, st)
	}
	if err != nil {
		return err
	}
	if st.SomethingDown() {
		return silentExit(ExitError)
	}
	return nil
}

func printClusterStatus(a *App, st *agent.ClusterStatus) error {
	now := time.Now()
	fmt.Fprintln(a.Stdout, st.Summary())
	t := newTable(a.Stdout, "HOST", "ROLE", "UP", "STATE", "WORKER", "SLOTS", "DETAIL")
	for _, h := range st.Hosts {
		up, worker := "up", "stopped"
		if !h.Up {
			up, worker = "DOWN", "?"
		} else if h.Running {
			worker = shortSHA(h.Worker)
		}
		t.row(h.Host, h.Role, up, string(h.State), worker, fmt.Sprintf("%d/%d busy", h.Busy, h.Slots), h.Reason)
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(a.Stdout)
	t = newTable(a.Stdout, "QUEUE", "WAITING", "PENDING", "RUNNING", "DELAYED")
	for _, s := range st.Tasks.Queues {
		t.row(s.Queue, s.Waiting, s.Pending, s.Running, s.Delayed)
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintf(a.Stdout, "\nrunning tasks: %d\n", len(st.Tasks.Running))
	for _, r := range st.Tasks.Running {
		fmt.Fprintln(a.Stdout, forTerminal(a.Stdout, fmt.Sprintf("  %s %s on %s", r.ID, r.Task, r.Host)))
	}
	if st.Fleets != nil {
		st.Fleets.WriteText(a.Stdout)
	}
	switch b := st.Beat; b {
	case nil:
		fmt.Fprintln(a.Stdout, "beat leader: none (no cl beat running)")
	default:
		fmt.Fprintln(a.Stdout, forTerminal(a.Stdout, fmt.Sprintf("beat leader: %s (leading since %s)", b.Holder, ago(now, b.Since))))
	}
	switch ag := st.Agent; ag {
	case nil:
		fmt.Fprintln(a.Stdout, "agent: none leading")
	default:
		fmt.Fprintln(a.Stdout, forTerminal(a.Stdout, fmt.Sprintf("agent: %s (leading since %s)", ag.Holder, ago(now, ag.Since))))
	}
	la := st.Apply
	switch la.Result {
	case "none":
		fmt.Fprintln(a.Stdout, "last apply: never applied")
	case "failed":
		fmt.Fprintln(a.Stdout, forTerminal(a.Stdout, fmt.Sprintf("last apply: FAILED %s %s: %s (applied: %s, generation %d)", shortSHA(la.Failed), ago(now, la.FailedAt), la.Error, shortSHA(la.SHA), la.Generation)))
	default:
		fmt.Fprintf(a.Stdout, "last apply: ok %s %s (generation %d)\n", shortSHA(la.SHA), ago(now, la.At), la.Generation)
	}
	return nil
}
