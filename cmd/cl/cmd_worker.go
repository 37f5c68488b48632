package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/alecthomas/kong"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/observe"
	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/worker"
)

// WorkerCmd is `cl worker --host NAME`: this host's worker, in the
// foreground, until SIGTERM (or a max_tasks_per_child recycle).
type WorkerCmd struct {
	Host       string        `required:"" placeholder:"NAME" help:"This host's name in cl.yaml hosts."`
	HealthAddr string        `name:"health-addr" placeholder:"ADDR" help:"Listen address of the health endpoint (default: from deployment.health_check_url; - for none)."`
	Lease      time.Duration `name:"lease" hidden:"" env:"CL_WORKER_LEASE" help:"Lease of a running task (default 30s); every worker of a cluster must use the same. For tests."`
}

// workerSource is where the worker's configuration and tasks come from.
type workerSource struct {
	ConfigPath string // cl.yaml to load
	ReleaseDir string // "" = the directory of cl.yaml
	SHA        string
}

// Run loads cl.yaml (a release's own copy when cl runs from a release),
// connects to Redis and serves until SIGTERM.
func (c *WorkerCmd) Run(a *App, kctx *kong.Context) error {
	exe, _ := os.Executable()
	src := chooseWorkerSource(a.ConfigPath, configGiven(kctx), exe)
	a.ConfigPath = src.ConfigPath
	cfg, err := a.LoadConfig()
	if err != nil {
		return err
	}
	if err := applyWorkerCredentials(cfg, src); err != nil {
		return err
	}
	q, err := openQueue(a, cfg)
	if err != nil {
		return err
	}
	defer q.Close()
	if c.Lease > 0 {
		if q, err = q.With(queue.WithLeaseTTL(c.Lease)); err != nil {
			return fmt.Errorf("worker --lease %s: %w", c.Lease, err)
		}
	}
	log, stopShip := observe.Ship(q, observe.WorkerSource(cfg, c.Host), a.Log)
	defer stopShip()
	o := worker.Options{Config: cfg, Host: c.Host, Queue: q, ReleaseDir: src.ReleaseDir,
		SHA: src.SHA, Version: version, HealthAddr: c.HealthAddr, Logger: log}
	if src.ReleaseDir != "" {
		o.Reload = func(context.Context) (worker.Release, error) { return reloadRelease(src.ReleaseDir, a.Env) }
	}
	return worker.Run(a.Ctx, o)
}

// reloadRelease loads the release `current` points to now, the way the
// worker loaded its own at start (its cl.yaml and credentials).
func reloadRelease(dir, env string) (worker.Release, error) {
	cur, err := worker.CurrentRelease(dir)
	if err != nil {
		return worker.Release{}, err
	}
	src := workerSource{ConfigPath: filepath.Join(cur, "cl.yaml"), ReleaseDir: cur, SHA: filepath.Base(cur)}
	cfg, _, err := config.LoadValid(config.Options{Path: src.ConfigPath, Env: env})
	if err == nil {
		err = applyWorkerCredentials(cfg, src)
	}
	if err != nil {
		return worker.Release{}, fmt.Errorf("reload %s: %w", src.SHA, err)
	}
	return worker.Release{Config: cfg, Dir: cur, SHA: src.SHA}, nil
}

// applyWorkerCredentials sets the Redis URL from the release's
// .celeroot/credentials: the release's cl.yaml carries none (see
// config.WorkerCopy). A release without the file (none deployed by cl
// writes one) keeps cl.yaml's URL.
func applyWorkerCredentials(cfg *config.Config, src workerSource) error {
	if src.ReleaseDir == "" {
		return nil
	}
	path := filepath.Join(src.ReleaseDir, config.CredentialsPath)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the worker's credentials: %w (the worker must run as the user that owns the release)", err)
	}
	creds, err := config.ParseWorkerCredentials(path, data)
	if err != nil {
		return err
	}
	if err := creds.Apply(cfg); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// configGiven reports whether -c/--config or CL_CONFIG chose cl.yaml.
func configGiven(kctx *kong.Context) bool {
	if os.Getenv("CL_CONFIG") != "" {
		return true
	}
	for _, p := range kctx.Path {
		if p.Flag != nil && p.Flag.Name == "config" {
			return true
		}
	}
	return false
}

// chooseWorkerSource uses the release's cl.yaml and its directory name as
// SHA when cl runs as <target>/releases/<sha>/bin/cl next to
// <target>/releases/<sha>/cl.yaml and no configuration was given
// explicitly; otherwise the given cl.yaml, SHA "dev".
func chooseWorkerSource(configPath string, given bool, exe string) workerSource {
	dev := workerSource{ConfigPath: configPath, SHA: worker.DevSHA}
	if given || exe == "" {
		return dev
	}
	if real, err := filepath.EvalSymlinks(exe); err == nil {
		exe = real
	}
	bin := filepath.Dir(exe)
	release := filepath.Dir(bin)
	if filepath.Base(bin) != "bin" || filepath.Base(filepath.Dir(release)) != "releases" {
		return dev
	}
	cfgPath := filepath.Join(release, "cl.yaml")
	if fi, err := os.Stat(cfgPath); err != nil || !fi.Mode().IsRegular() {
		return dev
	}
	return workerSource{ConfigPath: cfgPath, ReleaseDir: release, SHA: filepath.Base(release)}
}
