package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/deploy"
)

// HostRemoveCmd is `cl host remove`.
type HostRemoveCmd struct {
	Name     string `arg:"" help:"Host to remove."`
	Purge    bool   `help:"Also delete the host's releases, current link and worker state files (kept by default)."`
	Force    bool   `help:"Remove the host from cl.yaml even when it cannot be reached to stop its worker."`
	NoStop   bool   `name:"no-stop" help:"Only unregister: do not connect to the host (its worker keeps running)."`
	NoCommit bool   `name:"no-commit" help:"Do not commit the change to git."`
}

// Run stops and disables the host's worker and unregisters it (see
// removeHost) under the deploy lock, so that it never races a deploy or a
// `cl host add`. With --no-stop it only edits cl.yaml: no host, no Redis,
// no lock.
func (c *HostRemoveCmd) Run(a *App) error {
	msg := fmt.Sprintf("cl: remove host %s", c.Name)
	if c.NoStop {
		return applyHostEdit(a, func(b []byte) ([]byte, error) { return config.RemoveHost(b, c.Name) }, msg, !c.NoCommit,
			fmt.Sprintf("removed host %s", c.Name))
	}
	cfg, err := a.LoadConfig()
	if err != nil {
		return err
	}
	if _, ok := cfg.Hosts.Get(c.Name); !ok {
		return fmt.Errorf("remove host: no host %q in %s (see `cl host list`)", c.Name, a.ConfigPath)
	}
	q, err := openQueue(a, cfg)
	if err != nil {
		return fmt.Errorf("remove host %s: cannot take the deploy lock: %w (cl.yaml and the host unchanged; fix: start Redis or correct redis.url, or --no-stop to only unregister the host without touching it)", c.Name, err)
	}
	defer q.Close()
	conn, err := newConnector(a, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	repo, err := openRepo(a)
	if err != nil {
		return err
	}
	e := &deploy.Engine{Config: cfg, Env: a.Env, Hosts: conn, Log: a.Log}
	var rep *deploy.RemoveReport
	err = deploy.Locked(a.Ctx, q, deploy.LockInfo{Command: "cl " + strings.Join(os.Args[1:], " ")}, func(ctx context.Context, _ deploy.LockInfo) error {
		var err error
		rep, err = e.Remove(ctx, deploy.RemoveOptions{Load: a.LoadOptions(), Name: c.Name, Repo: repo, Purge: c.Purge, Force: c.Force, Commit: !c.NoCommit, Message: msg})
		return err
	})
	if err != nil {
		return err
	}
	return printRemoveReport(a, c, rep, msg)
}

// printRemoveReport prints what `cl host remove` did.
func printRemoveReport(a *App, c *HostRemoveCmd, rep *deploy.RemoveReport, msg string) error {
	for _, w := range rep.Warnings {
		fmt.Fprintln(a.Stderr, "cl: warning: "+w)
	}
	if a.JSON() {
		return a.PrintJSON(rep)
	}
	if rep.Stopped {
		what := "stopped and disabled the worker on %s (releases and data kept; --purge deletes them)\n"
		if rep.Purged {
			what = "stopped and disabled the worker on %s and deleted its releases and state\n"
		}
		fmt.Fprintf(a.Stdout, what, c.Name)
	}
	fmt.Fprintf(a.Stdout, "removed host %s in %s\n", c.Name, rep.Path)
	switch {
	case rep.Commit != "":
		fmt.Fprintf(a.Stdout, "committed %s: %s\n", rep.Commit[:12], msg)
	case rep.NotCommitted != "" && !c.NoCommit:
		fmt.Fprintf(a.Stdout, "not committed: %s\n", rep.NotCommitted)
	}
	return nil
}
