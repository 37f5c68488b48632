package main

import (
	"fmt"
	"time"

	"github.com/celeroot/celeroot/adhoc"
	"github.com/celeroot/celeroot/hostexec"
)

// HostExecCmd is `cl host exec`.
type HostExecCmd struct {
	selectFlags
	Concurrency int           `default:"128" help:"Hosts run at once."`
	Timeout     time.Duration `default:"0s" help:"Time limit per host, connecting included; past it the remote command is killed (0: none)."`
	Group       bool          `help:"Print each host's output in one block when the host is done, instead of line by line with a host prefix."`
	Argv        []string      `arg:"" passthrough:"" help:"The command and its arguments, after -- (each word passed as is: no shell on this side, quoted for the remote one)."`
}

// captureJSON bounds the output of each host kept in -o json.
const captureJSON = 1 << 20

// Run runs the command on the selected hosts over SSH; exit 0 only when
// every host exited 0.
func (c *HostExecCmd) Run(a *App) error {
	c.Argv = argvAfterDash(c.Argv)
	if err := adhoc.Check(c.Argv); err != nil {
		return err
	}
	if c.Concurrency < 1 {
		return fmt.Errorf("--concurrency %d: give at least 1", c.Concurrency)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("--timeout %s: give a positive duration, or 0 for none", c.Timeout)
	}
	cfg, hosts, err := selectHosts(a, c.selectFlags, false)
	if err != nil {
		return err
	}
	opts := sshOptions(a, cfg)
	opts.MaxHandshakes = c.Concurrency
	conn, err := hostexec.NewConnector(cfg, opts)
	if err != nil {
		return err
	}
	defer conn.Close()
	run := adhoc.Options{Argv: c.Argv, Concurrency: c.Concurrency, Timeout: c.Timeout, Group: c.Group}
	if a.JSON() {
		run.Capture = captureJSON
	} else {
		run.Stdout, run.Stderr = a.Stdout, a.Stderr
	}
	rep, err := adhoc.Run(a.Ctx, conn, hosts, run)
	if err != nil {
		return err
	}
	if a.JSON() {
		if err := a.PrintJSON(struct {
			*adhoc.Report
			OK bool `json:"ok"`
		}{rep, rep.OK()}); err != nil {
			return err
		}
	} else {
		t := newTable(a.Stdout, "HOST", "EXIT", "DURATION", "ERROR")
		for _, r := range rep.Rows() {
			t.row(r[0], r[1], r[2], orDashStr(r[3]))
		}
		t.flush()
	}
	if err := rep.Err(); err != nil {
		if a.JSON() {
			return silentExit(ExitError)
		}
		return err
	}
	return nil
}
