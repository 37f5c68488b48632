package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/celeroot/celeroot/audit"
	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/deploy"
	bluegreen "github.com/celeroot/celeroot/fleet"
	"github.com/celeroot/celeroot/schedule"
)

// ClusterCreateCmd is `cl cluster create NAME --clone FROM`.
type ClusterCreateCmd struct {
	Name     string   `arg:"" help:"The new fleet."`
	Clone    string   `required:"" placeholder:"FLEET" help:"The fleet whose hosts (roles, tags, ssh settings) the new fleet copies."`
	Hosts    []string `placeholder:"ADDR|NAME=ADDR" help:"The new hosts' addresses, in the order of the cloned fleet's hosts, or NAME=ADDR (default: the old address with the old fleet's name replaced)."`
	NoCommit bool     `name:"no-commit" help:"Do not commit the change to git."`
}

// Run adds the cloned hosts to cl.yaml (one edit, one commit).
func (c *ClusterCreateCmd) Run(a *App) error {
	cfg, err := a.LoadConfig()
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("cl: create fleet %s (clone of %s)", c.Name, c.Clone)
	res, err := bluegreen.Create(a.Ctx, cfg, bluegreen.CreateOptions{Load: a.LoadOptions(), Commit: commitWith(msg, !c.NoCommit),
		Clone: config.CloneSpec{Name: c.Name, From: c.Clone, Addresses: splitList(c.Hosts)}})
	if err != nil {
		return err
	}
	if a.JSON() {
		return a.PrintJSON(res)
	}
	for _, h := range res.Hosts {
		fmt.Fprintf(a.Stdout, "added host %s (%s, role %s) to fleet %s\n", h.Name, h.Address, h.Role, h.Fleet)
	}
	printEdit(a, res.Edit, msg)
	fmt.Fprintf(a.Stdout, "next: cl host deploy --cluster %s, then cl cluster switch %s\n", c.Name, c.Name)
	return nil
}

// ClusterSwitchCmd is `cl cluster switch NAME`.
type ClusterSwitchCmd struct {
	Name string `arg:"" help:"The fleet to make active."`
}

// Run makes the fleet active (Redis state: no commit).
func (c *ClusterSwitchCmd) Run(a *App) error {
	cfg, q, err := loadQueue(a)
	if err != nil {
		return err
	}
	defer q.Close()
	res, err := bluegreen.Switch(a.Ctx, cfg, q, schedule.Switching(q), c.Name, audit.CLIActor(cfg.SSH.DefaultKey).String())
	if err != nil {
		return err
	}
	if a.JSON() {
		return a.PrintJSON(res)
	}
	fmt.Fprintln(a.Stdout, res.Line())
	return nil
}

// ClusterDestroyCmd is `cl cluster destroy NAME`.
type ClusterDestroyCmd struct {
	Name          string `arg:"" help:"The fleet to take down (not the active one)."`
	PurgeReleases bool   `name:"purge-releases" help:"Also delete the hosts' releases, current link and worker state (kept by default)."`
	Force         bool   `help:"Remove hosts whose worker cannot be stopped (unreachable) anyway."`
	NoCommit      bool   `name:"no-commit" help:"Do not commit the change to git."`
}

// Run stops the fleet's workers, deletes its queues and removes its hosts
// from cl.yaml, under the deploy lock.
func (c *ClusterDestroyCmd) Run(a *App) error {
	cfg, q, err := loadQueue(a)
	if err != nil {
		return err
	}
	defer q.Close()
	conn, err := newConnector(a, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	e := &deploy.Engine{Config: cfg, Env: a.Env, Hosts: conn, Log: a.Log}
	msg := "cl: destroy fleet " + c.Name
	var res *bluegreen.DestroyResult
	err = deploy.Locked(a.Ctx, q, deploy.LockInfo{Command: "cl " + strings.Join(os.Args[1:], " ")}, func(ctx context.Context, _ deploy.LockInfo) error {
		res, err = bluegreen.Destroy(ctx, cfg, q, q, e, bluegreen.DestroyOptions{Load: a.LoadOptions(), Name: c.Name,
			Purge: c.PurgeReleases, Force: c.Force, Commit: commitWith(msg, !c.NoCommit)})
		return err
	})
	if err != nil {
		return err
	}
	for _, w := range res.Warnings {
		fmt.Fprintln(a.Stderr, "cl: warning: "+w)
	}
	if a.JSON() {
		return a.PrintJSON(res)
	}
	for _, s := range res.Stopped {
		fmt.Fprintf(a.Stdout, "stopped and disabled the worker on %s%s\n", s.Host, map[bool]string{true: " and deleted its releases"}[s.Purged])
	}
	fmt.Fprintf(a.Stdout, "deleted %d keys of queues %s\n", res.DeletedKeys, strings.Join(res.Queues, ", "))
	printEdit(a, res.Edit, msg)
	return nil
}
