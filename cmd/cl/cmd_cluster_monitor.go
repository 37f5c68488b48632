package main

import (
	"time"

	"github.com/celeroot/celeroot/monitor"
)

// ClusterMonitorCmd is `cl cluster monitor`.
type ClusterMonitorCmd struct {
	Interval   time.Duration `default:"1s" help:"Refresh period (workers, queues, running tasks, leaders, applies: read from Redis)."`
	ProbeEvery time.Duration `name:"probe-every" default:"10s" help:"Observe the hosts over SSH (up, drift) this often."`
	Role       string        `placeholder:"R" help:"Show only the hosts and workers of this role (on a terminal: key r cycles roles)."`
	Host       string        `placeholder:"H" help:"Show only this host (on a terminal: key h cycles hosts)."`
	Count      int           `placeholder:"N" help:"When stdout is not a terminal: stop after N snapshots (default: until interrupted)."`
}

// Run shows the live view on a terminal, plain periodic text otherwise.
func (c *ClusterMonitorCmd) Run(a *App) error {
	co, err := openCheckout(a, false)
	if err != nil {
		return err
	}
	defer co.Close()
	fetch := monitor.Fetcher(co.driftCheck(), co.q, co.head, c.ProbeEvery)
	f := monitor.Filter{Role: c.Role, Host: c.Host}
	if !a.IsTTY() {
		return monitor.Plain(a.Ctx, fetch, c.Interval, c.Count, f, a.Stdout)
	}
	return monitor.Run(a.Ctx, fetch, c.Interval, f, a.Stdin, a.Stdout)
}
