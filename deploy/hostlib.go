package deploy

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"sync/atomic"

	"github.com/celeroot/celeroot/hostexec"
)

// hostLib is the host side of deploys (see hostlib.sh). It is installed
// under a name derived from its content, so a host never runs a library
// from another cl version and installing it is idempotent.
//
//go:embed hostlib.sh
var hostLib []byte

var hostLibName = func() string {
	sum := sha256.Sum256(hostLib)
	return "lib-" + hex.EncodeToString(sum[:])[:12] + ".sh"
}()

// libMissing is the exit status of the call wrapper when the library is
// not installed yet.
const libMissing = 97

// manifestMismatch is stage's exit status when the manifest it merged is
// not the expected one.
const manifestMismatch = 98

// callWrapper runs the library when it exists and exits libMissing when not.
// It sources the library rather than exec'ing a new /bin/sh for it: $0 and
// the arguments are the same, and every call saves an exec on the host.
const callWrapper = `if [ -f "$0" ]; then . "$0"; exit; fi; exit 97`

// helperWrapper starts probestage ($1 is the deploying build's sha256,
// then the command and its arguments; $3 after the shift is the target)
// with the host's own cl, HostLib, when current's bin/cl is that very
// build (its BinarySumPath says so): one Go process instead of the ~30
// short programs the shell library runs. Otherwise, or with no sha256
// given, it is callWrapper. Only shell builtins run before the exec.
const helperWrapper = `H=$1; shift; h=; { read -r h <"$3/current/.celeroot/cl-sha256"; } 2>/dev/null; ` +
	`if [ -n "$H" ] && [ "$h" = "$H" ] && [ -x "$3/current/bin/cl" ]; then exec "$3/current/bin/cl" hostlib "$@"; fi; ` +
	callWrapper

// remote runs library commands on one host and counts the bytes it sends.
type remote struct {
	host   hostexec.Host
	name   string
	target string
	sent   *atomic.Int64
	// helper is the sha256 of this cl when hosts running the same build
	// may run probestage with it (Binaries.HelperSum; "" never).
	helper string
}

func (r *remote) libPath() string { return path.Join(r.target, ".celeroot", hostLibName) }

// Caps on what cl reads back from a host (hostexec.Command.MaxStdout):
// past them the command is stopped and the step fails naming the host, the
// command and the cap.
const (
	// maxProbeOutput bounds the probe, which returns the current
	// release's manifest: ~100 bytes a file, so ~600,000 files.
	maxProbeOutput = 64 << 20
	// maxOutput bounds the other commands whose output is parsed.
	maxOutput = 1 << 20
)

// call runs `sh LIB cmd args...`, installing the library first when it
// is missing. stdin may be nil; stdout receives the output, at most max
// bytes (see maxOutput).
func (r *remote) call(ctx context.Context, stdout io.Writer, max int64, stdin io.Reader, cmd string, args ...string) (hostexec.Result, string, error) {
	argv := append([]string{"/bin/sh", "-c", callWrapper, r.libPath(), cmd}, args...)
	res, stderr, err := r.run(ctx, hostexec.Command{Argv: argv, Stdin: stdin, Stdout: stdout, MaxStdout: max})
	if err != nil || res.ExitCode != libMissing {
		return res, stderr, err
	}
	if stdin != nil {
		return res, stderr, fmt.Errorf("%s on %s: the host library vanished while running", cmd, r.name)
	}
	if err := r.install(ctx); err != nil {
		return res, stderr, err
	}
	return r.run(ctx, hostexec.Command{Argv: argv, Stdout: stdout, MaxStdout: max})
}

// install creates <target>/.celeroot and uploads the library.
func (r *remote) install(ctx context.Context) error {
	dir := path.Dir(r.libPath())
	// umask 077: a target directory cl creates is its owner's only.
	res, stderr, err := r.run(ctx, hostexec.Command{Argv: []string{"/bin/sh", "-c", `umask 077 && mkdir -p -- "$1" && chmod go-rwx -- "$1"`, "sh", dir}})
	if err == nil && !res.OK() {
		err = fmt.Errorf("mkdir %s: exit status %d: %s", dir, res.ExitCode, stderr)
	}
	if err == nil {
		r.sent.Add(int64(len(hostLib)))
		err = r.host.Upload(ctx, bytes.NewReader(hostLib), r.libPath(), 0o600)
	}
	if err != nil {
		return fmt.Errorf("install the deploy library on %s: %w (is %s writable by the SSH user? see ssh.become)", r.name, err, r.target)
	}
	return nil
}

// run runs c, counting its command line and stdin as sent, and returns
// the first 8 KiB of its stderr.
func (r *remote) run(ctx context.Context, c hostexec.Command) (hostexec.Result, string, error) {
	var stderr tailBuffer
	c.Stderr = &stderr
	for _, a := range c.Argv {
		r.sent.Add(int64(len(a)) + 1)
	}
	r.sent.Add(int64(len(c.Line)))
	if c.Stdin != nil {
		c.Stdin = &countingReader{r: c.Stdin, n: r.sent}
	}
	res, err := r.host.Run(ctx, c)
	return res, strings.TrimSpace(stderr.String()), err
}

// check runs c and turns a non-zero exit into an error naming what.
func (r *remote) check(ctx context.Context, what string, c hostexec.Command) error {
	res, stderr, err := r.run(ctx, c)
	return r.failed(what, res, stderr, err)
}

func (r *remote) failed(what string, res hostexec.Result, stderr string, err error) error {
	switch {
	case err != nil:
		return fmt.Errorf("%s on %s: %w", what, r.name, err)
	case !res.OK():
		if stderr == "" {
			return fmt.Errorf("%s on %s: exit status %d", what, r.name, res.ExitCode)
		}
		return fmt.Errorf("%s on %s: exit status %d: %s", what, r.name, res.ExitCode, libMessage(stderr))
	}
	return nil
}

// libMessage reduces the stderr of a failed host library call to one
// line: the library's own last "cl-host: " line when it has one (it
// names the problem and the fix), else the output with its lines joined.
func libMessage(stderr string) string {
	lines := lastLines(stderr, 1000)
	for i := len(lines) - 1; i >= 0; i-- {
		if m, ok := strings.CutPrefix(strings.TrimSpace(lines[i]), "cl-host: "); ok {
			return m
		}
	}
	return strings.Join(lines, "; ")
}

// callCheck is call with a non-zero exit turned into an error.
func (r *remote) callCheck(ctx context.Context, stdout io.Writer, max int64, stdin io.Reader, what, cmd string, args ...string) error {
	res, stderr, err := r.call(ctx, stdout, max, stdin, cmd, args...)
	return r.failed(what, res, stderr, err)
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// tailBuffer keeps the last 8 KiB written to it.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if over := len(t.b) - 8192; over > 0 {
		t.b = t.b[over:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }

// lastLines returns the last n non-empty lines of s.
func lastLines(s string, n int) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}

var errNotLinux = errors.New("not a Linux host")
