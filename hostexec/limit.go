package hostexec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrOutputTooLarge is matched by the error of a command that printed more
// than its Command.MaxStdout.
var ErrOutputTooLarge = errors.New("output too large")

// OutputTooLargeError is a command stopped because its stdout passed the
// cap its caller set (Command.MaxStdout).
type OutputTooLargeError struct {
	Host    string
	Command string // the command as Command.String renders it, shortened
	Max     int64
}

func (e *OutputTooLargeError) Error() string {
	return fmt.Sprintf("%s on %s printed more than %d bytes, cl's cap for it: stopped it (check what the host prints there)", e.Command, e.Host, e.Max)
}

// Is makes errors.Is(err, ErrOutputTooLarge) hold.
func (e *OutputTooLargeError) Is(target error) bool { return target == ErrOutputTooLarge }

// errOverCap is the cancel cause set when a capped stdout overflows.
var errOverCap = errors.New("stdout over its cap")

// capWriter passes at most max bytes to w. Past that it calls over once
// and drops the rest (reporting success, so no copy loop blocks the command
// before it is stopped).
type capWriter struct {
	w    io.Writer
	max  int64
	n    int64
	over func()
	done bool
}

func (c *capWriter) Write(p []byte) (int, error) {
	if c.done {
		return len(p), nil
	}
	room := c.max - c.n
	if int64(len(p)) > room {
		c.done = true
		if room > 0 {
			c.w.Write(p[:room])
		}
		c.n = c.max
		c.over()
		return len(p), nil
	}
	c.n += int64(len(p))
	return c.w.Write(p)
}

// runCapped runs c through run, enforcing c.MaxStdout: past it the command
// is stopped (its context cancelled) and the result is an
// *OutputTooLargeError naming host, the command and the cap.
func runCapped(ctx context.Context, host string, c Command, run func(context.Context, Command) (Result, error)) (Result, error) {
	if c.MaxStdout <= 0 {
		return run(ctx, c)
	}
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	c.Stdout = &capWriter{w: orDiscard(c.Stdout), max: c.MaxStdout, over: func() { cancel(errOverCap) }}
	res, err := run(cctx, c)
	if ctx.Err() == nil && errors.Is(context.Cause(cctx), errOverCap) {
		return res, &OutputTooLargeError{Host: host, Command: describe(c), Max: c.MaxStdout}
	}
	return res, err
}

// describe renders c for an error: a script passed with sh -c shows as
// "…", so that its arguments (what it was asked) are seen.
func describe(c Command) string {
	if a := c.Argv; len(a) >= 3 && a[1] == "-c" {
		return shorten(a[0]+" -c … "+QuoteArgs(a[3:]), 100)
	}
	return shorten(c.String(), 100)
}

// shorten puts s on one line of at most n runes.
func shorten(s string, n int) string {
	r := []rune(strings.Join(strings.Fields(s), " "))
	if len(r) <= n {
		return string(r)
	}
	return string(r[:n]) + "…"
}
