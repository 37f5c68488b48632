package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/celeroot/celeroot/deploy/supervise"
	"github.com/celeroot/celeroot/schedule"
)

// BeatStopCmd is `cl beat stop`.
type BeatStopCmd struct {
	Leader  bool          `help:"Ask whichever beat leads (on any machine) to step down; another beat takes over."`
	Pidfile string        `placeholder:"PATH" help:"Pidfile of the local beat (default as for cl beat)."`
	Timeout time.Duration `default:"30s" help:"How long to wait for the beat to stop (then SIGKILL) or the lease to change hands."`
}

// Run stops the local beat, or makes the leader step down.
func (c *BeatStopCmd) Run(a *App) error {
	cfg, err := a.LoadConfig()
	if err != nil {
		return err
	}
	if c.Leader {
		q, err := openQueue(a, cfg)
		if err != nil {
			return err
		}
		defer q.Close()
		old, now, err := schedule.StepDown(a.Ctx, q, c.Timeout)
		switch {
		case err != nil:
			return err
		case old == "":
			return withCode(ExitError, errors.New("no beat leads: nothing to step down"))
		case now == "":
			fmt.Fprintf(a.Stdout, "leader %s stepped down; no other beat has taken over yet\n", old)
		default:
			fmt.Fprintf(a.Stdout, "leader %s stepped down; %s leads now\n", old, now)
		}
		return nil
	}
	path := c.Pidfile
	if path == "" {
		if path, err = defaultPidfile(cfg.Cluster.Name, a.Env); err != nil {
			return err
		}
	}
	pid, err := stopLocal(path, c.Timeout)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.Stdout, "beat pid %d stopped\n", pid)
	return nil
}

// BeatRestartCmd is `cl beat restart [CONFIG]`.
type BeatRestartCmd struct {
	beatFlags
	LogFile string        `placeholder:"PATH" help:"Log of the new beat (default: the pidfile's path with .log)."`
	Wait    time.Duration `default:"60s" help:"How long to wait for the new beat to report leader or standby."`
}

// Run stops the local beat (if any), starts a new one detached, and waits
// until it reports leader or standby in Redis.
func (c *BeatRestartCmd) Run(a *App) error {
	if c.ConfigArg != "" {
		a.ConfigPath = c.ConfigArg
	}
	cfg, err := a.LoadConfig() // a broken file must not stop the running beat
	if err != nil {
		return err
	}
	q, err := openQueue(a, cfg)
	if err != nil {
		return err
	}
	defer q.Close()
	pidfile, err := c.pidfile(a, cfg)
	if err != nil {
		return err
	}
	if pid, err := stopLocal(pidfile, 30*time.Second); err == nil {
		fmt.Fprintf(a.Stderr, "stopped beat pid %d\n", pid)
	} else if !errors.Is(err, supervise.ErrNotRunning) {
		return err
	}
	cmd, id, logFile, err := c.spawn(a, pidfile)
	if err != nil {
		return err
	}
	role, err := schedule.WaitReady(a.Ctx, q, id, c.Wait, func() (string, bool) { return supervise.Exited(cmd) })
	if err != nil {
		return fmt.Errorf("%w (log: %s)", err, logFile)
	}
	pid := cmd.Process.Pid
	_ = cmd.Process.Release()
	fmt.Fprintf(a.Stdout, "beat %s (pid %d) is %s; log %s, pidfile %s\n", id, pid, role, logFile, pidfile)
	return nil
}

// spawn starts `cl beat CONFIG` in its own session with its output in a
// log file (supervise.Detach).
func (c *BeatRestartCmd) spawn(a *App, pidfile string) (*exec.Cmd, string, string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, "", "", fmt.Errorf("find the cl binary: %w", err)
	}
	cfgPath, _ := filepath.Abs(a.ConfigPath)
	id := c.ID
	if id == "" {
		host, _ := os.Hostname()
		id = fmt.Sprintf("%s-%d", host, time.Now().UnixNano()%1e9)
	}
	logFile := c.LogFile
	if logFile == "" {
		logFile = strings.TrimSuffix(pidfile, ".pid") + ".log"
	}
	args := []string{"beat", cfgPath, "--pidfile", pidfile, "--id", id, "--lease", c.Lease.String(),
		"--log-level", a.LogLevel, "--log-format", a.LogFormat}
	if a.Env != "" {
		args = append(args, "--env", a.Env)
	}
	cmd, err := supervise.Detach(exe, args, logFile)
	if err != nil {
		return nil, "", "", fmt.Errorf("start beat: %w", err)
	}
	return cmd, id, logFile, nil
}
