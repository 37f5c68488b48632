package schedule

import (
	"fmt"
	"time"

	"github.com/celeroot/celeroot/config"
)

// DryRunRow is one schedule as `cl beat --dry-run` shows it: its next fire
// times in its timezone and the hosts it reaches.
type DryRunRow struct {
	Schedule string      `json:"schedule"`
	Cron     string      `json:"cron"`
	Timezone string      `json:"timezone"`
	Enabled  bool        `json:"enabled"`
	Hosts    []string    `json:"hosts"`
	Next     []time.Time `json:"next"`
	Problems []string    `json:"problems,omitempty"`
}

// DryRun returns, per schedule of the set (and the backup job, if any),
// its next n fire times after now and the hosts each would reach, with
// the problems a fire would meet (a task the host's role cannot run).
func (s *Set) DryRun(now time.Time, n int) ([]DryRunRow, error) {
	specs := append([]Spec{}, s.Schedules...)
	if b := s.Backup; b != nil {
		specs = append(specs, Spec{Name: BackupName, Cron: b.Schedule, Timezone: "UTC", Enabled: true})
	}
	rows := make([]DryRunRow, 0, len(specs))
	for i := range specs {
		sp := &specs[i]
		c, err := ParseCron(sp.Cron, sp.Timezone)
		if err != nil {
			return nil, fmt.Errorf("schedule %s: %w", sp.Name, err)
		}
		r := DryRunRow{Schedule: sp.Name, Cron: sp.Cron, Timezone: c.Location().String(), Enabled: sp.Enabled, Hosts: []string{}}
		if sp.Name == BackupName {
			r.Hosts = append(r.Hosts, "(the leading beat's machine: "+s.Backup.Directory+")")
		}
		for _, h := range s.HostsFor(sp) {
			r.Hosts = append(r.Hosts, h.Name)
			if tr := sp.Tasks[h.Role]; tr.Error != "" {
				r.Problems = append(r.Problems, h.Name+": "+tr.Error)
			}
		}
		if sp.Enabled {
			if r.Next, err = c.NextN(now, n); err != nil {
				r.Problems = append(r.Problems, err.Error())
			}
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// ConfigRow is one schedule of a configuration as `cl config schedules`
// shows it: the schedule, its next fire times and the hosts its targets
// select.
type ConfigRow struct {
	*config.Schedule
	Next  []time.Time `json:"next"`
	Hosts []string    `json:"hosts"`
}

// Upcoming lists cfg's schedules with their next n fire times after now
// (none when disabled) and the names of the hosts they reach.
func Upcoming(cfg *config.Config, now time.Time, n int) ([]ConfigRow, error) {
	var rows []ConfigRow
	for _, s := range cfg.Schedules.Values() {
		loc, err := time.LoadLocation(s.Timezone)
		if err != nil {
			return nil, fmt.Errorf("schedule %s: %w", s.Name, err)
		}
		var next []time.Time
		if s.IsEnabled() {
			if next, err = Next(s.Cron, loc, now, n); err != nil {
				return nil, fmt.Errorf("schedule %s: %w", s.Name, err)
			}
		}
		hosts := cfg.TargetHosts(s.Targets)
		names := make([]string, len(hosts))
		for i, h := range hosts {
			names[i] = h.Name
		}
		rows = append(rows, ConfigRow{s, next, names})
	}
	return rows, nil
}
