package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/secrets"
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
	Sign      ConfigSignCmd      `cmd:"" help:"Sign cl.yaml, tasks/ and environments/ (SSHSIG, namespace cl-config) into security.signature_file."`
	Verify    ConfigVerifyCmd    `cmd:"" help:"Check the configuration's signature and HEAD's commit signature against security.allowed_signers."`
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
type ConfigValidateCmd struct {
	Secrets bool `help:"Also fetch every referenced secret from the provider to check that it exists (values are discarded)."`
}

// Run validates and prints every diagnostic.
func (c ConfigValidateCmd) Run(a *App) error {
	cfg, diags, err := config.Load(a.LoadOptions())
	if err != nil {
		return err
	}
	if cfg != nil { // secret references: syntax and provider always, existence with --secrets
		diags = append(diags, secrets.CheckConfig(a.Ctx, cfg, c.Secrets)...)
		diags.Sort()
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
