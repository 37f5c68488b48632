package main

import "github.com/celeroot/celeroot/drift"

// ClusterCmd is `cl cluster`: a new cluster, drift, reconcile, status,
// backup and restore of the whole cluster.
type ClusterCmd struct {
	Init      ClusterInitCmd      `cmd:"" help:"Create a new cluster: cl.yaml, tasks/, environments/dev.yaml, a git repository and its first commit; checks its Redis namespace is free."`
	Drift     ClusterDriftCmd     `cmd:"" help:"Observe every host and compare it with what was applied and what HEAD wants: exit 0 in sync, 2 drifted."`
	Reconcile ClusterReconcileCmd `cmd:"" help:"Repair drift: put drifted hosts back on the release applied to them, under the deploy lock."`
	Status    ClusterStatusCmd    `cmd:"" help:"Hosts up/down/drifted, workers and slots, queues, running tasks, beat leader, agent and last apply: exit 1 when something is down."`
	Backup    ClusterBackupCmd    `cmd:"" help:"Write the configuration and the cluster's state (applied SHA, bad SHAs, generation, last fires, every Redis key of its namespace) to one file."`
	Restore   ClusterRestoreCmd   `cmd:"" help:"Load a cluster backup back into Redis, after checking the whole file (format, checksum, cluster)."`
	Create    ClusterCreateCmd    `cmd:"" help:"Blue-green: add a new fleet to cl.yaml by cloning another fleet's hosts (committed); deploy it with cl host deploy --cluster NAME."`
	Switch    ClusterSwitchCmd    `cmd:"" help:"Blue-green: make a fleet the active one (schedules and tasks without --cluster go to it), at once and recorded."`
	Destroy   ClusterDestroyCmd   `cmd:"" help:"Blue-green: stop a fleet's workers, delete its queues and remove its hosts from cl.yaml; refuses the active fleet."`
	Logs      ClusterLogsCmd      `cmd:"" help:"The workers', beats' and agents' logs merged in time order; --follow tails them."`
	Metrics   ClusterMetricsCmd   `cmd:"" help:"Task execution time p50/p95/p99 and failure rate per task, queue sizes, apply and deploy durations."`
	Monitor   ClusterMonitorCmd   `cmd:"" help:"A live view of hosts, workers, queues, running tasks, beat, agent and applies, refreshed every second; plain text when not on a terminal."`
}

// ClusterDriftCmd is `cl cluster drift`.
type ClusterDriftCmd struct{}

// Run prints the drift report; exit 0 in sync, 2 drifted, 1 error.
func (c *ClusterDriftCmd) Run(a *App) error {
	co, err := openCheckout(a, false)
	if err != nil {
		return err
	}
	defer co.Close()
	rep, err := co.driftCheck().Check(a.Ctx, co.head)
	if err != nil {
		return err
	}
	if a.JSON() {
		err = a.PrintJSON(rep)
	} else {
		err = rep.WriteText(a.Stdout)
	}
	if err != nil {
		return err
	}
	if code := rep.ExitCode(); code != drift.ExitInSync {
		return silentExit(code)
	}
	return nil
}
