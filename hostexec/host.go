package hostexec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Host is a machine commands can run on: this one (Local) or one reached
// over SSH (a Host from a Pool).
type Host interface {
	// Run runs cmd and waits for it. A command that ran and exited non-zero
	// is a Result with that ExitCode and a nil error; an error means the
	// command could not be run or its outcome is unknown (transport failure,
	// ctx cancelled, Stdin failed).
	Run(ctx context.Context, cmd Command) (Result, error)
	// Upload writes r to dst atomically: it streams to a temporary file in
	// dst's directory and renames it over dst only once r reached EOF, so dst
	// is never seen half-written. On failure dst is unchanged and the
	// temporary file is removed.
	Upload(ctx context.Context, r io.Reader, dst string, mode fs.FileMode) error
	// ReadFile returns the contents of path; a missing file is an error that
	// matches fs.ErrNotExist.
	ReadFile(ctx context.Context, path string) ([]byte, error)
	// Close releases the host's resources.
	Close() error
}

// Command is one thing to run: exactly one of Argv (a program and its
// arguments, never interpreted by a shell) or Line (POSIX sh text, run with
// /bin/sh -c) must be set.
type Command struct {
	Argv []string
	Line string
	// Stdin feeds the command; nil means empty. If reading Stdin fails, the
	// command is stopped and Run returns the read error.
	Stdin io.Reader
	// Stdout and Stderr receive the command's output; nil discards it.
	Stdout, Stderr io.Writer
	// MaxStdout, when positive, caps the bytes passed to Stdout: past it
	// the command is stopped and Run returns an *OutputTooLargeError
	// (matching ErrOutputTooLarge) naming the host, the command and the
	// cap. Every caller that buffers a host's output sets it.
	MaxStdout int64
	// Env is added to the command's environment. Names must match
	// [A-Za-z_][A-Za-z0-9_]*.
	Env map[string]string
	// Dir is the working directory; "" means the login directory (SSH) or
	// the current directory (Local).
	Dir string
}

// Result is how a command ended.
type Result struct {
	// ExitCode is the exit status; 128+N when the command was killed by
	// signal N, as a shell reports it.
	ExitCode int
	// Signal names the signal that killed the command ("TERM", "KILL"), or "".
	Signal   string
	Duration time.Duration
}

// OK reports whether the command exited zero.
func (r Result) OK() bool { return r.ExitCode == 0 && r.Signal == "" }

// Become values for Target.Become and Local.Become.
const (
	BecomeNone = ""
	BecomeSudo = "sudo"
)

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ErrInvalidCommand is matched by errors for a malformed Command.
var ErrInvalidCommand = errors.New("invalid command")

func (c Command) validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidCommand, fmt.Sprintf(format, a...))
	}
	switch {
	case len(c.Argv) == 0 && c.Line == "":
		return bad("neither Argv nor Line is set")
	case len(c.Argv) > 0 && c.Line != "":
		return bad("both Argv and Line are set")
	case len(c.Argv) > 0 && c.Argv[0] == "":
		return bad("empty program name")
	case len(c.Argv) > 0 && strings.Contains(c.Argv[0], "="):
		return bad("program name %q contains '='", c.Argv[0])
	case strings.ContainsRune(c.Line, 0) || strings.ContainsRune(c.Dir, 0):
		return bad("NUL byte in Line or Dir")
	}
	for i, a := range c.Argv {
		if strings.ContainsRune(a, 0) {
			return bad("NUL byte in argument %d", i)
		}
	}
	for k, v := range c.Env {
		if !envNameRE.MatchString(k) {
			return bad("environment variable name %q (want [A-Za-z_][A-Za-z0-9_]*)", k)
		}
		if strings.ContainsRune(v, 0) {
			return bad("NUL byte in environment variable %s", k)
		}
	}
	return nil
}

// String renders the command for logs: argv quoted, environment values
// left out (they may be secrets).
func (c Command) String() string {
	var b strings.Builder
	for _, k := range sortedKeys(c.Env) {
		b.WriteString(k + "=… ")
	}
	if c.Line != "" {
		b.WriteString("sh -c " + Quote(c.Line))
	} else {
		b.WriteString(QuoteArgs(c.Argv))
	}
	return b.String()
}

func checkBecome(b string) error {
	if b != BecomeNone && b != BecomeSudo {
		return fmt.Errorf("unsupported become %q (want %q or %q)", b, BecomeNone, BecomeSudo)
	}
	return nil
}

// argv returns the full program vector for c: the sudo prefix when
// become is sudo, the environment as an `env K=V` prefix when withEnv, and
// Line wrapped as /bin/sh -c. The environment travels on the command line
// because sshd only accepts AcceptEnv'd variables and sudo resets the
// environment.
func (c Command) argv(become string, withEnv bool) []string {
	var out []string
	if become == BecomeSudo {
		out = append(out, "sudo", "-n", "--")
	}
	if withEnv && len(c.Env) > 0 {
		out = append(out, "env")
		for _, k := range sortedKeys(c.Env) {
			out = append(out, k+"="+c.Env[k])
		}
	}
	if c.Line != "" {
		return append(out, "/bin/sh", "-c", c.Line)
	}
	return append(out, c.Argv...)
}

// pidMarker is the first line a remote command prints on stderr: the id of
// its process group, which the client needs to kill the command on cancel.
const pidMarker = "cl-pgid="

// remoteCommand returns the text sent in the SSH exec request. The login
// shell (whatever it is) execs /bin/sh with a script that reports $$ on
// stderr and then execs the command, so the command keeps the PID and
// process group sshd created for the session (sshd calls setsid for every
// session), and no parameter is ever spliced into shell text unquoted.
func remoteCommand(c Command, become string) string {
	var s strings.Builder
	s.WriteString(`printf '` + pidMarker + `%s\n' "$$" >&2` + "\n")
	if c.Dir != "" {
		s.WriteString("cd " + Quote(c.Dir) + " || exit 1\n")
	}
	if script, args, ok := c.shellScript(); ok && become != BecomeSudo {
		// The command is a /bin/sh script itself: this shell runs it
		// instead of exec'ing another, one exec fewer per command (about
		// 7 ms of a host's CPU on a slow VM, paid by every host of a
		// fan-out). Its arguments become this shell's, so $0, $1… are
		// what the script was given.
		for _, k := range sortedKeys(c.Env) {
			s.WriteString(k + "=" + Quote(c.Env[k]) + "; export " + k + "\n")
		}
		s.WriteString(script)
		return "exec /bin/sh -c " + Quote(s.String()) + " " + QuoteArgs(args)
	}
	s.WriteString("exec " + QuoteArgs(c.argv(become, true)))
	return "exec /bin/sh -c " + Quote(s.String())
}

// shellScript returns c's script and its arguments ($0 first) when c runs
// `/bin/sh -c SCRIPT [ARG0 ARG…]` (or is a Line).
func (c Command) shellScript() (script string, args []string, ok bool) {
	switch {
	case c.Line != "":
		return c.Line, []string{"sh"}, true
	case len(c.Argv) >= 3 && c.Argv[0] == "/bin/sh" && c.Argv[1] == "-c":
		if len(c.Argv) == 3 {
			return c.Argv[2], []string{"sh"}, true
		}
		return c.Argv[2], c.Argv[3:], true
	}
	return "", nil, false
}

// Quote returns s quoted for a POSIX shell: unchanged when it holds only
// safe characters, else in single quotes with each ' written as '\”.
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+:,./_-", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// QuoteArgs quotes each word with Quote and joins them with spaces.
func QuoteArgs(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = Quote(a)
	}
	return strings.Join(q, " ")
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
