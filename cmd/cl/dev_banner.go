package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/celeroot/celeroot/deploy"
)

// devTry lists the commands to try next, with this invocation's -c and --env.
func devTry(a *App, info *devInfo) []string {
	prefix := clInvocation(a)
	try := []string{"curl -s " + info.StatusURL + "   # the agent: head, applied, hosts"}
	if len(info.Workers) == 0 {
		return append(try, prefix+" task status", prefix+" beat status", prefix+" config schedules")
	}
	w := info.Workers[0]
	try = append(try,
		prefix+" task run ping --role "+w.Role+" --wait",
		prefix+" task run ping --target "+w.Host+"   # prints a run id",
		prefix+" task logs --task-id ID --follow",
		prefix+" task status",
		prefix+" task status --task-id ID -o json",
	)
	if w.Health != "" {
		try = append(try, "curl -s "+w.Health)
	}
	return append(try,
		prefix+" config schedules   # next fire times",
		prefix+" beat status        # the beat: leader, schedules, last fires")
}

// clInvocation is how the user ran cl, with the configuration flags.
func clInvocation(a *App) string {
	bin := "cl"
	if len(os.Args) > 0 && filepath.Base(os.Args[0]) == "cl" {
		bin = os.Args[0]
	}
	parts := []string{bin}
	if a.ConfigPath != "cl.yaml" {
		parts = append(parts, "-c", shellQuote(a.ConfigPath))
	}
	if a.Env != "" {
		parts = append(parts, "--env", shellQuote(a.Env))
	}
	return strings.Join(parts, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '/' || r == '.' || r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// printDevInfo prints what runs and what to try, or the JSON object.
func printDevInfo(a *App, info *devInfo) error {
	if a.JSON() {
		return a.PrintJSON(info)
	}
	w := a.Stdout
	fmt.Fprintln(w, "cl dev: ready — FOR DEVELOPMENT ONLY: Redis is in memory")
	fmt.Fprintf(w, "  redis    %s  in-memory (embedded miniredis); every queue, run and log is lost when cl dev stops\n", info.RedisURL)
	fmt.Fprintf(w, "  keys     namespace %s\n", info.Namespace)
	how := "reused: its own commits, not the files of -c"
	if info.RepoCreated {
		how = "new: a copy of the config directory, committed"
	}
	fmt.Fprintf(w, "  repo     %s (branch %s, %s)\n", info.Repo, info.Branch, how)
	applied := "applied " + deploy.ShortVersion(info.Applied)
	if info.ApplyError != "" {
		applied = "not applied: " + info.ApplyError
	}
	fmt.Fprintf(w, "  agent    %s (head %s, %s)\n", info.StatusURL, deploy.ShortVersion(info.Head), applied)
	if info.DashboardURL != "" {
		fmt.Fprintf(w, "  web      %s (the dashboard)\n", info.DashboardURL)
	}
	for i, wk := range info.Workers {
		label := "  "
		if i == 0 {
			label = "  workers"
		}
		health := "health off"
		if wk.Health != "" {
			health = "health " + wk.Health
		}
		fmt.Fprintf(w, "%-9s  %s (role %s, %d slots, release %s, %s)\n", label, wk.Host, wk.Role, wk.Slots, deploy.ShortVersion(wk.SHA), health)
	}
	if len(info.Workers) == 0 {
		fmt.Fprintln(w, "  workers  none: no host has a local address (fix: --env dev, or give hosts a loopback address or connection: local)")
	}
	if len(info.Remote) > 0 {
		fmt.Fprintf(w, "  remote   %s (not local: no worker here; their deploys fail)\n", strings.Join(info.Remote, ", "))
	}
	if b := info.Beat; b != nil {
		scheds := "no schedules"
		if len(b.Schedules) > 0 {
			scheds = plural(len(b.Schedules), "schedule") + ": " + strings.Join(b.Schedules, ", ")
		}
		fmt.Fprintf(w, "  beat     %s (%s; %s)\n", b.ID, b.Role, scheds)
	}
	fmt.Fprintf(w, "\nEdit and commit in %s; the agent applies each commit:\n", info.Repo)
	fmt.Fprintf(w, "  cd %s && $EDITOR tasks/... && git commit -am 'my change'\n", shellQuote(info.Repo))
	fmt.Fprintln(w, "\nTry, in another terminal:")
	for _, t := range info.Try {
		fmt.Fprintln(w, "  "+t)
	}
	fmt.Fprintln(w, "\nCtrl-C stops cl dev.")
	return nil
}
