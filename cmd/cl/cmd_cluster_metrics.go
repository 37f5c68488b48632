package main

import (
	"github.com/celeroot/celeroot/dispatch"
	"github.com/celeroot/celeroot/observe"
)

// ClusterMetricsCmd is `cl cluster metrics`.
type ClusterMetricsCmd struct{}

// Run prints task time quantiles, failure rates, queue sizes and apply and
// deploy durations.
func (c *ClusterMetricsCmd) Run(a *App) error {
	cfg, err := a.LoadConfig()
	if err != nil {
		return err
	}
	q, err := openQueue(a, cfg)
	if err != nil {
		return err
	}
	defer q.Close()
	m, err := observe.Collect(a.Ctx, q, dispatch.ConfiguredQueues(cfg))
	if err != nil {
		return err
	}
	if a.JSON() {
		return a.PrintJSON(m)
	}
	return m.WriteText(a.Stdout)
}
