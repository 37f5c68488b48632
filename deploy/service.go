package deploy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/hostexec"
)

// StateDir holds the fallback supervisor's pid, state and log files on
// hosts without systemd.
const StateDir = "/var/lib/celeroot"

// unitDir is where systemd units are installed.
const unitDir = "/etc/systemd/system"

// service runs a host's worker: as a systemd unit (deployment.service_name)
// on hosts whose PID 1 is systemd, under `cl supervise` elsewhere.
type service struct {
	systemd        bool
	name           string // deployment.service_name
	target         string // deployment.target_directory
	restartCommand string // deployment.restart_command
	host           string
	env            string
}

func (s service) clPath() string { return path.Join(s.target, "current", BinaryPath) }

// workerArgv is the worker's command line: always through current, so a
// restart picks up the release current points to.
func (s service) workerArgv() []string {
	argv := []string{s.clPath(), "worker", "--host", s.host}
	if s.env != "" {
		argv = append(argv, "--env", s.env)
	}
	return argv
}

func (s service) unitPath() string { return path.Join(unitDir, s.name+".service") }

// unit renders the systemd unit.
func (s service) unit() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# Installed by cl host deploy; the next deploy rewrites it.\n")
	// StartLimitIntervalSec=0: Restart=always for good. With systemd's
	// default start limit (5 starts in 10 s) a worker crashing at start is
	// given up for good after about 8 s (RestartSec=2), failed until the
	// next deploy or a manual restart, where the supervisor keeps retrying.
	fmt.Fprintf(&b, "[Unit]\nDescription=celeroot worker of %s\nAfter=network-online.target\nWants=network-online.target\nStartLimitIntervalSec=0\n\n", s.host)
	fmt.Fprintf(&b, "[Service]\nType=simple\nExecStart=%s\n", systemdArgv(s.workerArgv()))
	fmt.Fprintf(&b, "WorkingDirectory=%s\nRestart=always\nRestartSec=2\nKillMode=mixed\nTimeoutStopSec=60\n\n", s.target)
	b.WriteString("[Install]\nWantedBy=multi-user.target\n")
	return []byte(b.String())
}

// unitFile is the unit to install, refused when a value written into it
// unquoted could change its meaning: a target directory with a newline
// would add directives, one with % would expand specifiers. Validation
// refuses such configurations already; this keeps the unit safe whatever
// the caller.
func (s service) unitFile() ([]byte, error) {
	if err := config.CheckTargetDirectory(s.target); err != nil {
		return nil, fmt.Errorf("write the unit of %s: %w (fix deployment.target_directory in cl.yaml)", s.host, err)
	}
	if strings.ContainsFunc(s.host, func(r rune) bool { return r < ' ' || r == 0x7f || r == '%' }) {
		return nil, fmt.Errorf("write the unit of %q: the host name has control characters or %%; rename the host", s.host)
	}
	return s.unit(), nil
}

// systemdArgv quotes argv for an Exec line (double quotes, backslash
// escapes, % doubled).
func systemdArgv(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		a = strings.ReplaceAll(a, `\`, `\\`)
		a = strings.ReplaceAll(a, `"`, `\"`)
		a = strings.ReplaceAll(a, "%", "%%")
		q[i] = `"` + a + `"`
	}
	return strings.Join(q, " ")
}

// restartArgv restarts (or starts) the worker.
func (s service) restartArgv() []string {
	switch {
	case s.restartCommand != "":
		return []string{"/bin/sh", "-c", s.restartCommand}
	case s.systemd:
		return []string{"systemctl", "restart", s.name}
	}
	// The host library's sv-restart: a SIGHUP when the supervisor runs the
	// same command, `cl supervise restart` otherwise.
	return append([]string{"sv-restart", s.name, StateDir, s.clPath()}, s.workerArgv()...)
}

// installed reports whether install has nothing to do.
func (s service) installed(p probeResult) bool {
	if !s.systemd {
		return p.StateOK
	}
	sum := sha256.Sum256(s.unit())
	return hex.EncodeToString(sum[:]) == p.Unit && p.Enabled
}

// install puts the unit in place when it differs from the installed one,
// and enables it. Nothing is installed for the supervisor: it ships in
// bin/cl.
func (s service) install(ctx context.Context, r *remote, p probeResult) error {
	if s.installed(p) {
		return nil
	}
	if !s.systemd {
		err := r.check(ctx, "prepare "+StateDir, hostexec.Command{Argv: []string{"/bin/sh", "-c", `umask 077 && mkdir -p -- "$1" && test -w "$1" && { chmod go-rwx -- "$1" 2>/dev/null || :; }`, "sh", StateDir}})
		if err != nil {
			return fmt.Errorf("%w (the supervisor keeps its files there: make it writable by the SSH user, or set ssh.become: sudo)", err)
		}
		return nil
	}
	unit, err := s.unitFile()
	if err != nil {
		return err
	}
	sum := sha256.Sum256(unit)
	same := hex.EncodeToString(sum[:]) == p.Unit
	if same && p.Enabled {
		return nil
	}
	if !same {
		r.sent.Add(int64(len(unit)))
		if err := r.host.Upload(ctx, bytes.NewReader(unit), s.unitPath(), 0o644); err != nil {
			return fmt.Errorf("install unit %s: %w", s.unitPath(), err)
		}
		if err := r.check(ctx, "systemctl daemon-reload", hostexec.Command{Argv: []string{"systemctl", "daemon-reload"}}); err != nil {
			return err
		}
	}
	return r.check(ctx, "enable "+s.name, hostexec.Command{Argv: []string{"systemctl", "enable", "--quiet", s.name}})
}

// stop stops the worker and, with disable, keeps it from starting again
// (systemd: disable and remove the unit).
func (s service) stop(ctx context.Context, r *remote, disable bool) error {
	if s.systemd {
		if disable {
			return r.check(ctx, "disable "+s.name, hostexec.Command{Line: fmt.Sprintf(
				"systemctl disable --now %[1]s 2>/dev/null || systemctl stop %[1]s 2>/dev/null || :; rm -f %[2]s && systemctl daemon-reload",
				hostexec.Quote(s.name), hostexec.Quote(s.unitPath()))})
		}
		return r.check(ctx, "stop "+s.name, hostexec.Command{Argv: []string{"systemctl", "stop", s.name}})
	}
	// The supervisor is stopped by whichever cl is still on the host.
	script := `for c in "$1"/current/bin/cl "$1"/releases/*/bin/cl; do if [ -x "$c" ]; then shift; exec "$c" supervise stop "$@"; fi; done; exit 0`
	return r.check(ctx, "stop "+s.name, hostexec.Command{Argv: []string{"/bin/sh", "-c", script, "sh", s.target, s.name, "--state-dir", StateDir}})
}

// logTail returns the worker's last n log lines (journal or the
// supervisor's log file); problems reading them become the lines.
func (s service) logTail(ctx context.Context, r *remote, n int) []string {
	var c hostexec.Command
	if s.systemd {
		c.Argv = []string{"journalctl", "-u", s.name, "-n", fmt.Sprint(n), "--no-pager", "-o", "cat"}
	} else {
		c.Argv = []string{"tail", "-n", fmt.Sprint(n), path.Join(StateDir, s.name+".log")}
	}
	var out tailBuffer
	c.Stdout = &out
	res, stderr, err := r.run(ctx, c)
	switch {
	case err != nil:
		return []string{"(could not read the worker's log: " + err.Error() + ")"}
	case !res.OK():
		return []string{fmt.Sprintf("(could not read the worker's log: exit status %d: %s)", res.ExitCode, stderr)}
	}
	return lastLines(out.String(), n)
}

// checkURL asks the release's own cl to GET url on the host (no curl or
// wget needed), retrying there for up to wait; nil when it answered 2xx
// with expect (the release SHA, which the worker's health answer holds) in
// the body.
func (s service) checkURL(ctx context.Context, r *remote, url, expect string, wait time.Duration) error {
	var out tailBuffer
	argv := []string{s.clPath(), "supervise", "check", url, "--wait", wait.Round(time.Millisecond).String(), "--expect", expect}
	res, stderr, err := r.run(ctx, hostexec.Command{Argv: argv, Stdout: &out})
	if err != nil {
		return err
	}
	if !res.OK() {
		msg := strings.TrimSpace(stderr + " " + out.String())
		return fmt.Errorf("%s: %s", url, msg)
	}
	return nil
}
