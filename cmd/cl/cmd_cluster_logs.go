package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"github.com/celeroot/celeroot/observe"
	"github.com/celeroot/celeroot/queue"
)

// ClusterLogsCmd is `cl cluster logs`.
type ClusterLogsCmd struct {
	Follow bool   `short:"f" help:"Keep printing new lines as the processes log them (until Ctrl-C)."`
	Host   string `placeholder:"H" help:"Only the processes on this host (a worker's host name in cl.yaml, a beat's or agent's machine name)."`
	Role   string `placeholder:"R" help:"Only the workers of this role."`
	Since  string `placeholder:"D" help:"Only lines logged in the last D (e.g. 15m, 2h) or since a time (RFC 3339)."`
	Grep   string `placeholder:"RE" help:"Only lines matching this regular expression (Go syntax)."`
}

// Run prints the merged logs of the workers, beats and agents.
func (c *ClusterLogsCmd) Run(a *App) error {
	f, err := c.filter(time.Now())
	if err != nil {
		return err
	}
	cfg, err := a.LoadConfig()
	if err != nil {
		return err
	}
	q, err := openQueue(a, cfg)
	if err != nil {
		return err
	}
	defer q.Close()
	lines, cur, err := observe.ReadLogs(a.Ctx, q, f)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(a.Stdout)
	print := func(l queue.ProcLine) error {
		if a.JSON() {
			return enc.Encode(l)
		}
		_, err := fmt.Fprintln(a.Stdout, forTerminal(a.Stdout, observe.FormatLine(l)))
		return err
	}
	for _, l := range lines {
		if err := print(l); err != nil {
			return err
		}
	}
	if !c.Follow {
		return nil
	}
	return observe.FollowLogs(a.Ctx, q, f, cur, 500*time.Millisecond, print)
}

func (c *ClusterLogsCmd) filter(now time.Time) (observe.LogFilter, error) {
	f := observe.LogFilter{Host: c.Host, Role: c.Role}
	if c.Since != "" {
		if d, err := time.ParseDuration(c.Since); err == nil && d >= 0 {
			f.Since = now.Add(-d)
		} else if t, err := time.Parse(time.RFC3339, c.Since); err == nil {
			f.Since = t
		} else {
			return f, fmt.Errorf("--since %q: give a duration such as 15m or a time such as 2026-01-02T15:04:05Z", c.Since)
		}
	}
	if c.Grep != "" {
		re, err := regexp.Compile(c.Grep)
		if err != nil {
			return f, fmt.Errorf("--grep %q is not a regular expression: %v (Go syntax, e.g. 'error|failed')", c.Grep, err)
		}
		f.Grep = re
	}
	return f, nil
}
