package main

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/observe"
	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/schedule"
)

// BeatCmd is `cl beat`: the scheduler and its control commands.
type BeatCmd struct {
	Run           BeatRunCmd     `cmd:"" default:"withargs" help:"Run the scheduler (the default: cl beat [CONFIG])."`
	Status        BeatStatusCmd  `cmd:"" help:"Leader, beats, loaded schedules, next and last fires."`
	Stop          BeatStopCmd    `cmd:"" help:"Stop the local beat (pidfile), or with --leader make the leader step down."`
	Restart       BeatRestartCmd `cmd:"" help:"Stop the local beat and start a new one in the background (for CD pipelines)."`
	Backup        BeatBackupCmd  `cmd:"" help:"Snapshot celeroot's Redis keys now (what redis.backup does on its schedule)."`
	RestoreBackup BeatRestoreCmd `cmd:"" name:"restore-backup" help:"Load a snapshot back into Redis (RESTORE … REPLACE)."`
}

// beatFlags are the flags of the commands that start a beat.
type beatFlags struct {
	ConfigArg string        `arg:"" optional:"" name:"config" placeholder:"CONFIG" help:"cl.yaml to load (default: -c/--config)."`
	Pidfile   string        `placeholder:"PATH" help:"Pidfile of the local beat (default: /run/celeroot/beat-CLUSTER[-ENV].pid as root, else $XDG_RUNTIME_DIR/celeroot/…, else $XDG_STATE_HOME/celeroot/…, else /tmp/celeroot-UID/…; the first owned by you with mode 0700)."`
	Lease     time.Duration `default:"15s" help:"Leader lease: a standby takes over at most this long after the leader stops renewing."`
	ID        string        `placeholder:"ID" help:"Beat id in Redis and status (default: HOST-PID-RANDOM)."`
}

// BeatRunCmd is `cl beat [CONFIG]`.
type BeatRunCmd struct {
	beatFlags
	DryRun   bool   `name:"dry-run" help:"Print each schedule's next fire times (in its timezone) and the hosts each reaches, then exit; needs no Redis."`
	Count    int    `short:"n" default:"5" help:"Fire times per schedule with --dry-run."`
	Loglevel string `name:"loglevel" enum:",debug,info,warn,error" default:"" placeholder:"LEVEL" help:"Same as --log-level (the seed's spelling)."`
}

// Run loads the configuration and runs the beat until SIGINT/SIGTERM.
// SIGHUP reloads the configuration file and publishes it to every beat.
func (c *BeatRunCmd) Run(a *App) error {
	if c.Loglevel != "" {
		a.LogLevel = c.Loglevel
		a.Log = newLogger(a.Stderr, c.Loglevel, a.LogFormat)
	}
	if c.ConfigArg != "" {
		a.ConfigPath = c.ConfigArg
	}
	cfg, err := a.LoadConfig()
	if err != nil {
		return err
	}
	set := localSet(a, cfg)
	if c.DryRun {
		return printDryRun(a, set, c.Count)
	}
	path, err := c.pidfile(a, cfg)
	if err != nil {
		return err
	}
	pid, err := lockPidfile(path)
	if err != nil {
		return err
	}
	defer pid.Release()
	q, err := openQueue(a, cfg)
	if err != nil {
		return err
	}
	defer q.Close()
	var stopShip func()
	a.Log, stopShip = observe.Ship(q, queue.ProcSource{Kind: "beat", Host: observe.Hostname()}, a.Log)
	defer stopShip()
	jobs, err := beatJobs(a, cfg)
	if err != nil {
		return err
	}
	b, err := schedule.NewFromSet(set, q, schedule.Options{ID: c.ID, Lease: c.Lease, Version: version, Logger: a.Log,
		FireTTL: cfg.Redis.TaskTTL.D(), Jobs: jobs})
	if err != nil {
		return err
	}
	a.Log.Info("beat starting", "id", b.ID(), "namespace", q.Namespace().String(), "pidfile", pid.Path, "schedules", len(set.Schedules))
	ctx, cancel := context.WithCancel(a.Ctx)
	defer cancel()
	go reloadOnHUP(ctx, a, b)
	return b.Run(ctx)
}

func (f *beatFlags) pidfile(a *App, cfg *config.Config) (string, error) {
	if f.Pidfile != "" {
		return filepath.Abs(f.Pidfile) // a beat restart runs the new beat in /
	}
	return defaultPidfile(cfg.Cluster.Name, a.Env)
}

// reloadOnHUP re-reads the configuration on SIGHUP and publishes it. A
// configuration that does not load is reported and the old one stays.
func reloadOnHUP(ctx context.Context, a *App, b *schedule.Beat) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		cfg, err := a.LoadConfig()
		if err != nil {
			a.Log.Error("SIGHUP: configuration not reloaded; the beat keeps the loaded schedules", "config", a.ConfigPath, "err", err)
			continue
		}
		if err := b.ReloadSet(ctx, localSet(a, cfg)); err != nil {
			a.Log.Error("SIGHUP: reload", "err", err)
		}
	}
}

// localSet builds the schedule set of a configuration file, labelled with
// the commit of its git work tree when there is one.
func localSet(a *App, cfg *config.Config) *schedule.Set {
	path, err := filepath.Abs(a.ConfigPath)
	if err != nil {
		path = a.ConfigPath
	}
	return schedule.FromConfig(cfg, headSHA(a.Ctx, filepath.Dir(path)), "file:"+path)
}
