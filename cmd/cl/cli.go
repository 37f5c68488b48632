package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kong"

	"github.com/celeroot/celeroot/config"
)

// Set by the Makefile and goreleaser (-ldflags -X).
var (
	version = "dev"
	commit  = "none"
	date    = "unknown"
)

// Globals are the flags every command takes.
type Globals struct {
	ConfigPath string           `name:"config" short:"c" default:"cl.yaml" env:"CL_CONFIG" placeholder:"PATH" help:"Path of cl.yaml (its directory holds tasks/ and environments/)."`
	Env        string           `name:"env" placeholder:"NAME" help:"Overlay environments/NAME.yaml on cl.yaml."`
	Output     string           `name:"output" short:"o" enum:"text,json" default:"text" help:"Output format: text or json."`
	LogLevel   string           `name:"log-level" enum:"debug,info,warn,error" default:"info" help:"Log level: debug, info, warn, error."`
	LogFormat  string           `name:"log-format" enum:"text,json" default:"text" help:"Log format: text or json."`
	Version    kong.VersionFlag `name:"version" help:"Print version, commit and build date, as cl version does."`
}

// CLI is the whole command tree.
type CLI struct {
	Globals

	Config     ConfigCmd     `cmd:"" help:"Create, check and inspect cl.yaml."`
	Plan       PlanCmd       `cmd:"" help:"Plan HEAD of the config repository against the cluster: exit 0 no changes, 2 changes."`
	Apply      ApplyCmd      `cmd:"" help:"Apply a plan (saved, or made now) under the deploy lock."`
	Agent      AgentCmd      `cmd:"" help:"The GitOps agent: track a branch, plan and apply each commit, serve webhooks, status and metrics."`
	Host       HostCmd       `cmd:"" help:"Manage the host registry in cl.yaml."`
	Supervise  SuperviseCmd  `cmd:"" help:"Keep the worker running on hosts without systemd (used by deploys)."`
	Task       TaskCmd       `cmd:"" help:"Run tasks on hosts through the Redis queues; status, logs, kill."`
	Dev        DevCmd        `cmd:"" help:"Run an in-memory Redis and a worker per local host on this machine (development only)."`
	Worker     WorkerCmd     `cmd:"" help:"Run this host's worker: consume its host and role queues and run tasks."`
	Beat       BeatCmd       `cmd:"" help:"The scheduler: one leader fires cron schedules to hosts; status, stop, restart, backups."`
	Cluster    ClusterCmd    `cmd:"" help:"The whole cluster: drift, reconcile (repair drift), status."`
	Version    VersionCmd    `cmd:"" help:"Print version, commit and build date."`
	Completion CompletionCmd `cmd:"" help:"Print a shell completion script (bash, zsh, fish)."`
}

// App is what every command's Run receives: the parsed globals and the
// process's streams.
type App struct {
	*Globals
	Ctx    context.Context
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Log    *slog.Logger
	model  *kong.Application
}

// JSON reports whether output should be JSON.
func (a *App) JSON() bool { return a.Output == "json" }

// IsTTY reports whether stdout is a terminal.
func (a *App) IsTTY() bool { return isTerminal(a.Stdout) }

// PrintJSON writes v as indented JSON.
func (a *App) PrintJSON(v any) error {
	enc := json.NewEncoder(a.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// LoadOptions says where the configuration is.
func (a *App) LoadOptions() config.Options {
	return config.Options{Path: a.ConfigPath, Env: a.Env}
}

// LoadConfig loads a valid configuration, printing warnings to stderr.
func (a *App) LoadConfig() (*config.Config, error) {
	cfg, warns, err := config.LoadValid(a.LoadOptions())
	if err != nil {
		return nil, err
	}
	for _, w := range warns {
		fmt.Fprintln(a.Stderr, w.String())
	}
	return cfg, nil
}

func newParser(cli *CLI, stdout, stderr io.Writer, exit func(int)) (*kong.Kong, error) {
	opts := []kong.Option{
		kong.Name("cl"),
		kong.Description("celeroot: run fleets of plain Linux hosts by GitOps. Docs: docs/cli.md"),
		kong.Writers(stdout, stderr),
		kong.Exit(exit),
		kong.UsageOnError(),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
		kong.Vars{"version": versionLine()},
	}
	for _, name := range notYet {
		opts = append(opts, kong.DynamicCommand(name, "cl "+name+" is not available yet; see docs/cli.md.", "", &notYetCmd{name: name}, "hidden"))
	}
	return kong.New(cli, opts...)
}

type exitPanic int

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runContext(ctx, args, stdin, stdout, stderr)
}

// runContext is run with the root context (ended by Ctrl-C / SIGTERM in
// run; by the test in tests).
func runContext(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	var cli CLI
	parser, err := newParser(&cli, stdout, stderr, func(c int) { panic(exitPanic(c)) })
	if err != nil {
		fmt.Fprintf(stderr, "cl: internal error: %v\n", err)
		return ExitError
	}
	defer func() {
		if r := recover(); r != nil {
			c, ok := r.(exitPanic)
			if !ok {
				panic(r)
			}
			code = int(c)
			if code != 0 {
				code = ExitError
			}
		}
	}()
	if len(args) == 0 { // `cl` alone: the help, not "expected one of …"
		args = []string{"--help"}
	}
	kctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "cl: %v\n", err)
		return ExitError
	}
	app := &App{Globals: &cli.Globals, Ctx: ctx, Stdin: stdin, Stdout: stdout, Stderr: stderr,
		Log: newLogger(stderr, cli.LogLevel, cli.LogFormat), model: parser.Model}
	return exitCode(kctx.Run(app), stderr)
}

func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// VersionCmd prints build information.
type VersionCmd struct{}

// Run prints the version.
func (VersionCmd) Run(a *App) error {
	if a.JSON() {
		return a.PrintJSON(map[string]string{"version": version, "commit": commit, "date": date})
	}
	fmt.Fprintln(a.Stdout, versionLine())
	return nil
}

// versionLine is what `cl version` and `cl --version` print.
func versionLine() string {
	return fmt.Sprintf("cl %s (commit %s, built %s)", version, commit, date)
}
