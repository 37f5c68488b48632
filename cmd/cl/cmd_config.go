package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/schedule"
)

// ConfigCmd groups the commands that read or edit cl.yaml only.
type ConfigCmd struct {
	Init      ConfigInitCmd      `cmd:"" help:"Create a commented cl.yaml and a tasks/ skeleton."`
	Validate  ConfigValidateCmd  `cmd:"" help:"Check cl.yaml and tasks/ (exit 0 valid, 1 invalid)."`
	Show      ConfigShowCmd      `cmd:"" help:"Print the resolved configuration (overlay and defaults applied, secrets masked)."`
	Edit      ConfigEditCmd      `cmd:"" help:"Edit cl.yaml in $VISUAL/$EDITOR; validated before it replaces the file."`
	Workers   ConfigWorkersCmd   `cmd:"" help:"List worker roles."`
	Schedules ConfigSchedulesCmd `cmd:"" help:"List schedules with their next fire times and target hosts."`
	Hosts     ConfigHostsCmd     `cmd:"" help:"List the hosts registered in cl.yaml."`
}

// ConfigInitCmd is `cl config init [DIR]`.
type ConfigInitCmd struct {
	Dir   string `arg:"" optional:"" default:"." help:"Directory to create the project in (default: current directory)."`
	Force bool   `help:"Overwrite existing files."`
}

// Run writes the skeleton.
func (c *ConfigInitCmd) Run(a *App) error {
	written, err := config.Init(c.Dir, c.Force)
	if err != nil {
		return err
	}
	if a.JSON() {
		return a.PrintJSON(map[string]any{"dir": c.Dir, "files": written})
	}
	for _, f := range written {
		fmt.Fprintf(a.Stdout, "created %s\n", f)
	}
	fmt.Fprintf(a.Stdout, "next: edit %s/cl.yaml, then run `cl config validate -c %s/cl.yaml`\n", c.Dir, c.Dir)
	return nil
}

// ConfigValidateCmd is `cl config validate`.
type ConfigValidateCmd struct{}

// Run validates and prints every diagnostic.
func (ConfigValidateCmd) Run(a *App) error {
	cfg, diags, err := config.Load(a.LoadOptions())
	if err != nil {
		return err
	}
	valid := !diags.HasErrors()
	if a.JSON() {
		out := map[string]any{"valid": valid, "file": a.ConfigPath, "diagnostics": diags}
		if a.Env != "" {
			out["env"] = a.Env
		}
		if err := a.PrintJSON(out); err != nil {
			return err
		}
	} else {
		for _, d := range diags {
			fmt.Fprintln(a.Stdout, d.String())
		}
		if valid {
			fmt.Fprintf(a.Stdout, "%s is valid: %s, %s, %s, %s", a.ConfigPath, plural(cfg.Hosts.Len(), "host"), plural(cfg.Workers.Len(), "role"),
				plural(cfg.Schedules.Len(), "schedule"), plural(cfg.Modules.Len(), "task module"))
			if w := len(diags.Warnings()); w > 0 {
				fmt.Fprintf(a.Stdout, ", %s", plural(w, "warning"))
			}
			fmt.Fprintln(a.Stdout)
		} else {
			fmt.Fprintf(a.Stdout, "%s is invalid: %s\n", a.ConfigPath, plural(len(diags.Errors()), "error"))
		}
	}
	if !valid {
		return silentExit(ExitError)
	}
	return nil
}

// ConfigShowCmd is `cl config show`.
type ConfigShowCmd struct{}

// Run prints the resolved configuration.
func (ConfigShowCmd) Run(a *App) error {
	cfg, err := a.LoadConfig()
	if err != nil {
		return err
	}
	view := cfg.Resolved()
	if a.JSON() {
		return a.PrintJSON(view)
	}
	out, err := config.RenderYAML(view)
	if err != nil {
		return err
	}
	_, err = a.Stdout.Write(out)
	return err
}

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
	type row struct {
		*config.Schedule
		Next  []time.Time `json:"next"`
		Hosts []string    `json:"hosts"`
	}
	now := time.Now()
	var rows []row
	for _, s := range cfg.Schedules.Values() {
		loc, err := time.LoadLocation(s.Timezone)
		if err != nil {
			return fmt.Errorf("schedule %s: %w", s.Name, err)
		}
		var next []time.Time
		if s.IsEnabled() {
			if next, err = schedule.Next(s.Cron, loc, now, c.Count); err != nil {
				return fmt.Errorf("schedule %s: %w", s.Name, err)
			}
		}
		rows = append(rows, row{s, next, hostNames(cfg.TargetHosts(s.Targets))})
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

// ConfigEditCmd is `cl config edit`.
type ConfigEditCmd struct {
	Editor string `help:"Editor command (default: $VISUAL, then $EDITOR, then vi)."`
}

// Run edits cl.yaml through a validated temp copy.
func (c *ConfigEditCmd) Run(a *App) error {
	editor := firstNonEmpty(c.Editor, os.Getenv("VISUAL"), os.Getenv("EDITOR"), "vi")
	res, err := config.Edit(a.Ctx, config.EditOptions{
		Load:   a.LoadOptions(),
		Editor: editor,
		Stdin:  a.Stdin, Stdout: a.Stdout, Stderr: a.Stderr,
		Retry: func(diags config.Diagnostics) bool {
			fmt.Fprintln(a.Stderr, diags.Error())
			return promptYes(a, "The edited file is invalid. Edit again? [Y/n] ", true)
		},
	})
	if errors.Is(err, config.ErrNoChange) {
		fmt.Fprintln(a.Stdout, "no changes")
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(a.Stdout, "%s updated (%d bytes)\n", a.ConfigPath, res)
	return nil
}

func hostNames(hosts []*config.Host) []string {
	out := make([]string, len(hosts))
	for i, h := range hosts {
		out[i] = h.Name
	}
	return out
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func orDash(n int) any {
	if n == 0 {
		return "-"
	}
	return n
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
