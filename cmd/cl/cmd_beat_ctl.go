package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/celeroot/celeroot/deploy/supervise"
	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/schedule"
)

// BeatStatusCmd is `cl beat status`.
type BeatStatusCmd struct {
	Count int `short:"n" default:"1" help:"Next fire times shown per schedule."`
}

// Run prints the beats' status from Redis.
func (c *BeatStatusCmd) Run(a *App) error {
	_, q, err := loadQueue(a)
	if err != nil {
		return err
	}
	defer q.Close()
	st, err := schedule.ReadStatus(a.Ctx, q, c.Count)
	if err != nil {
		return err
	}
	if a.JSON() {
		return a.PrintJSON(st)
	}
	printBeatStatus(a, st)
	return nil
}

func printBeatStatus(a *App, st *schedule.Status) {
	w := a.Stdout
	fmt.Fprintf(w, "namespace: %s\n", st.Namespace)
	if l := st.Leader; l != nil {
		fmt.Fprintf(w, "leader:    %s (host %s, pid %d) since %s, epoch %d, lease expires in %s\n", l.ID, orDashStr(l.Host), l.PID,
			l.Since.Format(time.RFC3339), l.Epoch, (time.Duration(l.ExpiresInMS) * time.Millisecond).Round(time.Millisecond))
	} else {
		fmt.Fprintln(w, "leader:    none (no beat holds the lease: nothing fires)")
	}
	if p := st.Published; p != nil {
		fmt.Fprintf(w, "published: %s, %s, gen %d, by %s at %s\n", setLabel(p.SHA, p.Digest), plural(p.Schedules, "schedule"), p.Gen, p.Source, p.PublishedAt.Format(time.RFC3339))
	} else {
		fmt.Fprintln(w, "published: none (no beat has started in this namespace)")
	}
	fmt.Fprintln(w)
	t := newTable(w, "BEAT", "HOST", "PID", "ROLE", "SINCE", "LOADED", "SCHEDULES", "NEXT_FIRE")
	for _, m := range st.Beats {
		next := "-"
		if !m.NextFire.IsZero() {
			next = m.NextFire.Format(time.RFC3339)
		}
		t.row(m.ID, m.Host, m.PID, m.Role, m.RoleSince.Format(time.RFC3339), setLabel(m.SHA, m.Digest), m.Schedules, next)
	}
	_ = t.flush()
	fmt.Fprintln(w)
	t = newTable(w, "SCHEDULE", "CRON", "TZ", "NEXT", "LAST_TICK", "HOSTS", "RESULTS")
	for _, s := range st.Schedules {
		next := "disabled"
		if s.Enabled {
			parts := make([]string, len(s.Next))
			for i, n := range s.Next {
				parts[i] = n.Format("2006-01-02 15:04:05 MST")
			}
			next = orNone(strings.Join(parts, ", "))
		}
		last, hosts, results := "-", "-", "-"
		if r := s.Last; r != nil {
			last = r.Tick.In(time.Local).Format(time.RFC3339)
			hosts = fmt.Sprintf("%d (%d new, %d dup, %d err)", r.Hosts, r.Enqueued, r.Duplicates, r.Errors)
			results = formatResults(s.Results)
			if r.Backup != nil {
				results = fmt.Sprintf("%s (%s)", r.Backup.File, plural(r.Backup.Keys, "key"))
			}
			if r.Error != "" {
				results += " error: " + r.Error
			}
		}
		t.row(s.Name, s.Cron, s.Timezone, next, last, hosts, results)
	}
	_ = t.flush()
}

func setLabel(sha, digest string) string {
	if sha != "" {
		return "sha " + sha[:min(12, len(sha))]
	}
	return "digest " + digest
}

func formatResults(m map[string]int) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

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
	} else if !errors.Is(err, errNotRunning) {
		return err
	}
	cmd, id, logFile, err := c.spawn(a, pidfile)
	if err != nil {
		return err
	}
	role, err := waitBeatRole(a.Ctx, q, id, cmd, c.Wait)
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

// waitBeatRole waits until beat id reports leader or standby in Redis, or
// its process exits.
func waitBeatRole(ctx context.Context, q *queue.Queue, id string, cmd *exec.Cmd, wait time.Duration) (schedule.Role, error) {
	deadline := time.Now().Add(wait)
	for {
		var ws syscall.WaitStatus
		if pid, _ := syscall.Wait4(cmd.Process.Pid, &ws, syscall.WNOHANG, nil); pid == cmd.Process.Pid {
			return "", fmt.Errorf("the new beat exited (%s)", exitText(ws))
		}
		if ms, err := schedule.Members(ctx, q); err == nil {
			for _, m := range ms {
				if m.ID == id && (m.Role == schedule.RoleLeader || m.Role == schedule.RoleStandby) {
					return m.Role, nil
				}
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("the new beat %s did not report leader or standby within %v", id, wait)
		}
		if !sleepCtx(ctx, 100*time.Millisecond) {
			return "", ctx.Err()
		}
	}
}

func exitText(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		return "killed by " + ws.Signal().String()
	}
	return fmt.Sprintf("exit status %d", ws.ExitStatus())
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
