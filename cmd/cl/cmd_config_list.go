package main

import (
	"strings"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/schedule"
)

// ConfigWorkersCmd is `cl config workers`.
type ConfigWorkersCmd struct{}

// Run lists worker roles.
func (ConfigWorkersCmd) Run(a *App) error {
	cfg, err := a.LoadConfig()
	if err != nil {
		return err
	}
	type row struct {
		*config.Worker
		Hosts []string `json:"hosts"`
	}
	var rows []row
	for _, w := range cfg.Workers.Values() {
		hosts, _ := cfg.Select(config.Selector{Role: w.Name})
		rows = append(rows, row{w, hostNames(hosts)})
	}
	if a.JSON() {
		return a.PrintJSON(rows)
	}
	t := newTable(a.Stdout, "ROLE", "QUEUE", "CONCURRENCY", "MAX_TASKS_PER_CHILD", "MODULES", "HOSTS")
	for _, r := range rows {
		t.row(r.Name, r.Queue, r.Concurrency, orDash(r.MaxTasksPerChild), strings.Join(r.Tasks, ","), strings.Join(r.Hosts, ","))
	}
	return t.flush()
}

// ConfigSchedulesCmd is `cl config schedules`.
type ConfigSchedulesCmd struct {
	Count int `short:"n" default:"3" help:"How many next fire times to show."`
}

// Run lists schedules with their next fire times.
func (c *ConfigSchedulesCmd) Run(a *App) error {
	cfg, err := a.LoadConfig()
	if err != nil {
		return err
	}
	rows, err := schedule.Upcoming(cfg, time.Now(), c.Count)
	if err != nil {
		return err
	}
	if a.JSON() {
		return a.PrintJSON(rows)
	}
	t := newTable(a.Stdout, "SCHEDULE", "CRON", "TZ", "TASK", "TARGETS", "HOSTS", "NEXT")
	for _, r := range rows {
		next := "disabled"
		if r.IsEnabled() {
			parts := make([]string, len(r.Next))
			for i, n := range r.Next {
				parts[i] = n.Format("2006-01-02 15:04:05 MST")
			}
			next = strings.Join(parts, ", ")
		}
		targets := make([]string, len(r.Targets))
		for i, tg := range r.Targets {
			targets[i] = tg.String()
		}
		t.row(r.Name, r.Cron, r.Timezone, r.Task, strings.Join(targets, " "), orNone(strings.Join(r.Hosts, ",")), next)
	}
	return t.flush()
}

// ConfigHostsCmd is `cl config hosts`.
type ConfigHostsCmd struct{}

// Run lists hosts.
func (ConfigHostsCmd) Run(a *App) error { return listHosts(a, "", nil) }
