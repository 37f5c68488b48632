package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/deploy"
)

// addHost runs `cl host add`'s seven steps under the deploy lock.
func addHost(a *App, spec config.HostSpec, msg string, commit bool) error {
	cfg, err := a.LoadConfig()
	if err != nil {
		return err
	}
	conn, err := newConnector(a, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	q, err := openQueueHint(a, cfg, "; deploying takes the deploy lock in Redis: start Redis, or add the host without deploying (--no-deploy) and deploy it later with `cl host deploy`")
	if err != nil {
		return err
	}
	defer q.Close()
	repo, err := openRepo(a)
	if err != nil {
		return err
	}
	var rep *deploy.AddReport
	steps := newStepView(a)
	e := &deploy.Engine{Config: cfg, Env: a.Env, Hosts: conn, Heartbeats: q, Log: a.Log, Events: steps.event}
	err = deploy.Locked(a.Ctx, q, deploy.LockInfo{Command: "cl " + strings.Join(os.Args[1:], " ")}, func(ctx context.Context, _ deploy.LockInfo) error {
		var err error
		rep, err = e.Add(ctx, deploy.AddOptions{Load: a.LoadOptions(), Spec: spec, Repo: repo, Commit: commit, Message: msg})
		return err
	})
	if rep == nil {
		return err
	}
	if a.JSON() {
		if perr := json.NewEncoder(a.Stdout).Encode(map[string]any{"type": "report", "report": rep}); perr != nil {
			return perr
		}
		if err != nil {
			return silentExit(ExitError)
		}
		return nil
	}
	printAddReport(a, rep, msg)
	return err
}

func printAddReport(a *App, rep *deploy.AddReport, msg string) {
	w := a.Stdout
	fmt.Fprintf(w, "host add %s (release %s)\n", rep.Host, deploy.ShortVersion(rep.Version))
	for _, s := range rep.Steps {
		status := "ok"
		if !s.OK {
			status = "FAILED"
		}
		line := fmt.Sprintf("  %-14s %-6s %6s", s.Step, status, (time.Duration(s.Ms) * time.Millisecond).Round(time.Millisecond))
		if s.Step == deploy.StepCode && rep.Deploy != nil && s.OK {
			line += fmt.Sprintf("  %d files sent, %d linked, %s on the wire", rep.Deploy.FilesSent, rep.Deploy.FilesLinked, bytesIEC(uint64(rep.Deploy.BytesSent)))
		}
		fmt.Fprintln(w, line)
	}
	if rep.Deploy != nil && !rep.Registered {
		printHostProblem(a, *rep.Deploy)
	}
	switch {
	case rep.Registered:
		fmt.Fprintf(w, "added host %s in %s\n", rep.Host, rep.Path)
		if rep.Commit != "" {
			fmt.Fprintf(w, "committed %s: %s\n", rep.Commit[:12], msg)
		} else if rep.NotCommitted != "" {
			fmt.Fprintf(w, "not committed: %s\n", rep.NotCommitted)
		}
	default:
		fmt.Fprintf(w, "%s not registered (%s unchanged)\n", rep.Host, rep.Path)
		if len(rep.Leftovers) > 0 {
			fmt.Fprintf(w, "left on the host (remove by hand):\n  %s\n", strings.Join(rep.Leftovers, "\n  "))
		} else if len(rep.Steps) > 1 {
			fmt.Fprintln(w, "the host was cleaned up")
		}
	}
}

// stepView prints `cl host add` steps as they start and end on a
// terminal, JSON event lines with -o json.
type stepView struct {
	a    *App
	tty  bool
	json *json.Encoder
}

func newStepView(a *App) *stepView {
	v := &stepView{a: a}
	if a.JSON() {
		v.json = json.NewEncoder(a.Stdout)
		return v
	}
	f, ok := a.Stderr.(*os.File)
	v.tty = ok && isatty.IsTerminal(f.Fd())
	return v
}

func (v *stepView) event(ev deploy.Event) {
	switch {
	case v.json != nil:
		_ = v.json.Encode(jsonEvent{Type: "event", Event: ev})
	case v.tty && ev.Status == deploy.StatusStart:
		fmt.Fprintf(v.a.Stderr, "\r\033[K%s: %s…", ev.Host, ev.Step)
	case v.tty:
		fmt.Fprint(v.a.Stderr, "\r\033[K")
	}
}
