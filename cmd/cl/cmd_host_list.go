package main

import (
	"context"
	"fmt"

	"github.com/celeroot/celeroot/config"
	gitsync "github.com/celeroot/celeroot/sync"
)

// applyHostEdit applies a registry edit to cl.yaml (validated, atomic,
// committed when asked) and prints the result.
func applyHostEdit(a *App, edit func([]byte) ([]byte, error), msg string, commit bool, done string) error {
	var commitFn config.CommitFunc
	if commit {
		commitFn = func(ctx context.Context, path string) (string, string, error) {
			return gitsync.CommitFile(ctx, path, msg)
		}
	}
	res, err := config.ApplyEdit(a.Ctx, a.LoadOptions(), edit, commitFn)
	if err != nil {
		return err
	}
	for _, w := range res.Warnings {
		fmt.Fprintln(a.Stderr, w.String())
	}
	if a.JSON() {
		return a.PrintJSON(map[string]any{"result": done, "path": res.Path, "commit": res.Committed, "not_committed": res.NotCommitted})
	}
	fmt.Fprintf(a.Stdout, "%s in %s\n", done, res.Path)
	switch {
	case res.Committed != "":
		fmt.Fprintf(a.Stdout, "committed %s: %s\n", res.Committed[:12], msg)
	case res.NotCommitted != "" && commit:
		fmt.Fprintf(a.Stdout, "not committed: %s\n", res.NotCommitted)
	}
	return nil
}

// HostListCmd is `cl host list`.
type HostListCmd struct {
	Role string   `help:"Only hosts of this role."`
	Tags []string `placeholder:"K=V" help:"Only hosts with these tags."`
}

// Run lists hosts.
func (c *HostListCmd) Run(a *App) error { return listHosts(a, c.Role, c.Tags) }

func listHosts(a *App, role string, tagFilter []string) error {
	cfg, err := a.LoadConfig()
	if err != nil {
		return err
	}
	hosts := cfg.Hosts.Values()
	if role != "" || len(tagFilter) > 0 {
		tags, err := config.ParseTags(tagFilter)
		if err != nil {
			return err
		}
		if hosts, err = cfg.Select(config.Selector{Role: role, Tags: tags}); err != nil {
			return err
		}
	}
	type row struct {
		*config.Host
		Conn config.Conn `json:"connection"`
	}
	rows := make([]row, len(hosts))
	for i, h := range hosts {
		rows[i] = row{h, cfg.ConnFor(h)}
	}
	if a.JSON() {
		return a.PrintJSON(rows)
	}
	t := newTable(a.Stdout, "NAME", "ROLE", "ADDRESS", "PORT", "USER", "TAGS")
	for _, r := range rows {
		t.row(r.Name, r.Role, r.Conn.Address, r.Conn.Port, r.Conn.User, orDashStr(formatTags(r.Tags)))
	}
	return t.flush()
}
