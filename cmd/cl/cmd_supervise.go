package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/celeroot/celeroot/deploy/supervise"
)

// SuperviseCmd is `cl supervise`: the worker's supervisor on hosts without
// systemd.
type SuperviseCmd struct {
	Run     SuperviseRunCmd     `cmd:"" help:"Supervise a command in the foreground: restart it with backoff when it exits."`
	Start   SuperviseStartCmd   `cmd:"" help:"Start a supervisor detached (no-op when it runs)."`
	Restart SuperviseRestartCmd `cmd:"" help:"Restart the supervised command now (start the supervisor when it does not run)."`
	Stop    SuperviseStopCmd    `cmd:"" help:"Stop a supervisor and its command."`
	Status  SuperviseStatusCmd  `cmd:"" help:"Show whether a supervisor runs, its command's pid, restarts and last exit (exit 3 when not running)."`
	Check   SuperviseCheckCmd   `cmd:"" help:"GET a health URL; exit 0 on a 2xx answer."`
}

// superviseFlags name one supervisor.
type superviseFlags struct {
	Name     string `arg:"" help:"Supervisor name (deploys use deployment.service_name)."`
	StateDir string `name:"state-dir" default:"/var/lib/celeroot" placeholder:"DIR" help:"Directory of the pid, state and log files."`
}

func (f superviseFlags) files() supervise.Files {
	return supervise.Files{Dir: f.StateDir, Name: f.Name}
}

// SuperviseRunCmd is `cl supervise run`.
type SuperviseRunCmd struct {
	superviseFlags
	Argv []string `arg:"" passthrough:"" help:"The command, after --."`
}

// Run supervises in the foreground.
func (c *SuperviseRunCmd) Run(a *App) error {
	// The supervisor handles SIGTERM, SIGINT and SIGHUP itself: it must
	// not end with the CLI's context before its child is stopped.
	signal.Ignore(syscall.SIGPIPE)
	return supervise.Run(context.WithoutCancel(a.Ctx), supervise.Options{Files: c.files(), Argv: argvAfterDash(c.Argv)})
}

// SuperviseStartCmd is `cl supervise start`.
type SuperviseStartCmd struct {
	superviseFlags
	Argv []string `arg:"" passthrough:"" help:"The command, after --."`
}

// Run starts a detached supervisor.
func (c *SuperviseStartCmd) Run(a *App) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	return supervise.Start(supervise.Options{Files: c.files(), Argv: argvAfterDash(c.Argv)}, self)
}

// SuperviseRestartCmd is `cl supervise restart`.
type SuperviseRestartCmd struct {
	superviseFlags
	Argv []string `arg:"" optional:"" passthrough:"" help:"The command, after -- (needed to start a supervisor that does not run, or to change the command)."`
}

// Run restarts the supervised command.
func (c *SuperviseRestartCmd) Run(a *App) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	return supervise.Restart(supervise.Options{Files: c.files(), Argv: argvAfterDash(c.Argv)}, self)
}

// SuperviseStopCmd is `cl supervise stop`.
type SuperviseStopCmd struct {
	superviseFlags
	Timeout time.Duration `default:"40s" help:"How long to wait for the supervisor and its command to exit before killing them."`
}

// Run stops the supervisor.
func (c *SuperviseStopCmd) Run(a *App) error { return supervise.Stop(c.files(), c.Timeout) }

// SuperviseStatusCmd is `cl supervise status`.
type SuperviseStatusCmd struct{ superviseFlags }

// Run prints the supervisor's state.
func (c *SuperviseStatusCmd) Run(a *App) error {
	st, err := supervise.ReadStatus(c.files())
	if err != nil {
		return err
	}
	if a.JSON() {
		err = a.PrintJSON(st)
	} else {
		fmt.Fprintln(a.Stdout, st.String())
	}
	if err == nil && !st.Running {
		return silentExit(3)
	}
	return err
}

// SuperviseCheckCmd is `cl supervise check`.
type SuperviseCheckCmd struct {
	URL     string        `arg:"" help:"The URL to GET (deployment.health_check_url)."`
	Timeout time.Duration `default:"3s" help:"Timeout of each request."`
	Wait    time.Duration `placeholder:"D" help:"Keep trying (every 50ms) until a 2xx answer or D has passed."`
	Expect  string        `placeholder:"TEXT" help:"Also require TEXT in the answer's body (deploys pass the release SHA)."`
}

// Run checks the URL.
func (c *SuperviseCheckCmd) Run(a *App) error {
	line, err := supervise.WaitCheck(a.Ctx, c.URL, c.Expect, c.Timeout, c.Wait)
	if err != nil {
		return err
	}
	fmt.Fprintln(a.Stdout, line)
	return nil
}

// argvAfterDash drops the "--" kong passes through.
func argvAfterDash(argv []string) []string {
	if len(argv) > 0 && argv[0] == "--" {
		return argv[1:]
	}
	return argv
}
