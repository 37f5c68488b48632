package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/dashboard"
	"github.com/celeroot/celeroot/devfleet"
)

// DevCmd is `cl dev`: the whole system on one machine, with nothing to
// install: an in-memory Redis on the address of redis.url, the GitOps agent
// on a local git copy of the config directory, a worker per local host
// that the agent deploys, and the scheduler (package devfleet).
type DevCmd struct {
	Grace    time.Duration `default:"10s" help:"How long running tasks may finish on Ctrl-C (or a redeploy) before they are stopped."`
	Repo     string        `placeholder:"DIR" help:"The dev repository: created from the config directory when absent or empty, reused otherwise (default: <state-dir>/repo)."`
	StateDir string        `name:"state-dir" placeholder:"DIR" help:"Where cl dev keeps its repository, the agent's clone and the hosts' releases (default: $XDG_STATE_HOME/celeroot/dev/<cluster> or ~/.local/state/celeroot/dev/<cluster>)."`
	Listen   string        `default:"127.0.0.1:0" help:"Address of the agent's dashboard /ui/, /api/v1/status, /metrics and /healthz (port 0: a free one)."`
}

// devInfo is what cl dev prints when it is ready (-o json: this object).
type devInfo struct {
	RedisURL  string `json:"redis_url"`
	Persisted bool   `json:"persisted"`
	Namespace string `json:"namespace"`
	devfleet.Info
	Try []string `json:"try"`
}

// Run serves until Ctrl-C, then shuts everything down.
func (c *DevCmd) Run(a *App) error {
	cfg, err := a.LoadConfig()
	if err != nil {
		return err
	}
	srv, err := devfleet.StartRedis(cfg.Redis.URL)
	if err != nil {
		return err
	}
	defer srv.Close()
	q, err := openQueue(a, cfg)
	if err != nil {
		return err
	}
	defer q.Close()

	ctx, stop := context.WithCancel(a.Ctx)
	defer stop()
	dev, err := devfleet.Start(ctx, devfleet.Options{Config: cfg, ConfigDir: filepath.Dir(a.ConfigPath), Env: a.Env, Queue: q,
		StateDir: c.stateDir(cfg), RepoDir: c.Repo, Listen: c.Listen, Grace: c.Grace, Version: version, Log: a.Log,
		UI: dashboard.UI(dashboard.Options{Log: a.Log})})
	if err != nil {
		return err
	}
	info := &devInfo{RedisURL: config.MaskURL(cfg.Redis.URL), Namespace: q.Namespace().String(), Info: dev.Info()}
	info.Try = devTry(a, info)
	if err := printDevInfo(a, info); err != nil {
		stop()
		dev.Wait()
		return err
	}
	<-ctx.Done()
	fmt.Fprintln(a.Stderr, "cl dev: stopping (running tasks get", c.Grace, "to finish)…")
	dev.Wait()
	fmt.Fprintln(a.Stderr, "cl dev: stopped; the in-memory Redis and everything in it are gone (the dev repository stays)")
	return nil
}

// stateDir is --state-dir, or one directory per cluster under the user's
// state directory.
func (c *DevCmd) stateDir(cfg *config.Config) string {
	if c.StateDir != "" {
		return c.StateDir
	}
	base := os.Getenv("XDG_STATE_HOME")
	if base == "" {
		home, _ := os.UserHomeDir()
		base = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(base, "celeroot", "dev", cfg.Cluster.Name)
}
