package main

import (
	"context"
	"fmt"
	"io"
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
	Mux        MuxCmd        `cmd:"" help:"The background process that keeps SSH connections open between cl commands (ssh.persist): status, stop."`
	Supervise  SuperviseCmd  `cmd:"" help:"Keep the worker running on hosts without systemd (used by deploys)."`
	Task       TaskCmd       `cmd:"" help:"Run tasks on hosts through the Redis queues; status, logs, kill."`
	Dev        DevCmd        `cmd:"" help:"Run an in-memory Redis and a worker per local host on this machine (development only)."`
	Worker     WorkerCmd     `cmd:"" help:"Run this host's worker: consume its host and role queues and run tasks."`
	Beat       BeatCmd       `cmd:"" help:"The scheduler: one leader fires cron schedules to hosts; status, stop, restart, backups."`
	Audit      AuditCmd      `cmd:"" help:"The tamper-evident audit trail of administrative actions: logs, verify, export."`
	Secrets    SecretsCmd    `cmd:"" help:"Age-encrypted secrets in the config repository: encrypt, decrypt, edit."`
	Cluster    ClusterCmd    `cmd:"" help:"The whole cluster: init, drift, reconcile (repair drift), status, backup, restore."`
	Version    VersionCmd    `cmd:"" help:"Print version, commit and build date."`
	Completion CompletionCmd `cmd:"" help:"Print a shell completion script (bash, zsh, fish)."`
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
	parser, err := newParserFor(&cli, args, stdout, stderr, func(c int) { panic(exitPanic(c)) })
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
	// One name per environment (an alias or cl.yaml's own declaration
	// resolved), so every namespace and worker agrees.
	cli.Env = config.EnvName(config.Options{Path: cli.ConfigPath, Env: cli.Env})
	app := &App{Globals: &cli.Globals, Ctx: ctx, Stdin: stdin, Stdout: stdout, Stderr: stderr,
		Log: newLogger(stderr, cli.LogLevel, cli.LogFormat), model: parser.Model}
	if entry, ok := selectedAudit(kctx); ok {
		rec := &auditRun{app: app, entry: entry}
		if err := rec.begin(); err != nil {
			return exitCode(err, stderr)
		}
		err := kctx.Run(app)
		rec.end(err)
		return exitCode(err, stderr)
	}
	return exitCode(kctx.Run(app), stderr)
}
