package adhoc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/hostexec"
)

// Opener opens a host of cl.yaml (hostexec.Connector).
type Opener interface {
	Open(ctx context.Context, h *config.Host) (hostexec.Host, error)
}

// Options say what to run and how output goes.
type Options struct {
	Argv        []string
	Concurrency int           // hosts at once (DefaultConcurrency when zero)
	Timeout     time.Duration // per host, connecting included; zero: none
	// Stdout and Stderr receive the hosts' output: each line prefixed with
	// "host | ", or, with Group, each host's output in one block when it is
	// done. Nil discards it.
	Stdout, Stderr io.Writer
	Group          bool
	// Capture keeps up to this many bytes of each host's stdout and stderr
	// in its Outcome (for JSON); zero keeps none.
	Capture int
}

// DefaultConcurrency is the number of hosts run at once by default.
const DefaultConcurrency = 128

// ErrNoCommand is returned for an empty argv.
var ErrNoCommand = errors.New("no command: give it after --, e.g. cl host exec --all -- uptime")

// Run runs opts.Argv on every host and reports each one's outcome in the
// order of hosts. A host that cannot be reached, or is cut off by
// opts.Timeout, is a failed Outcome, never an error; the error is for a
// command that cannot be run anywhere.
func Run(ctx context.Context, open Opener, hosts []*config.Host, opts Options) (*Report, error) {
	if len(opts.Argv) == 0 {
		return nil, ErrNoCommand
	}
	if err := Check(opts.Argv); err != nil {
		return nil, err
	}
	n := opts.Concurrency
	if n <= 0 {
		n = DefaultConcurrency
	}
	out := newOutput(opts)
	rep := &Report{Argv: opts.Argv, Hosts: make([]Outcome, len(hosts)), Started: time.Now().UTC()}
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			rep.Hosts[i] = runOne(ctx, open, h, opts, out)
		}()
	}
	wg.Wait()
	rep.Duration = time.Since(rep.Started)
	return rep, nil
}

// Check refuses an argv the transport cannot carry (a NUL byte, an empty
// or `=`-containing program name) with an error naming the word.
func Check(argv []string) error {
	switch {
	case len(argv) == 0:
		return ErrNoCommand
	case argv[0] == "":
		return fmt.Errorf("the program name is empty: give a command after --")
	}
	for i, a := range argv {
		for _, r := range a {
			if r == 0 {
				return fmt.Errorf("word %d of the command holds a NUL byte, which no shell can pass on: remove it", i+1)
			}
		}
	}
	return nil
}

func runOne(ctx context.Context, open Opener, h *config.Host, opts Options, out *output) (o Outcome) {
	o = Outcome{Host: h.Name, ExitCode: -1}
	start := time.Now()
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	hw := out.host(h.Name, opts.Capture)
	defer func() {
		o.Duration = time.Since(start)
		o.Stdout, o.Stderr, o.Truncated = hw.captured()
		hw.done(&o)
	}()
	host, err := open.Open(ctx, h)
	if err != nil {
		o.Error, o.Reason = describeErr(ctx, err, opts.Timeout, "connect")
		o.Unreachable = true
		return o
	}
	defer host.Close()
	res, err := host.Run(ctx, hostexec.Command{Argv: opts.Argv, Stdout: hw.stdout, Stderr: hw.stderr})
	if err != nil {
		o.Error, o.Reason = describeErr(ctx, err, opts.Timeout, "run")
		o.Unreachable = !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) && ctx.Err() == nil
		return o
	}
	o.ExitCode, o.Signal = res.ExitCode, res.Signal
	return o
}

// describeErr says why a host did not run the command to its end.
func describeErr(ctx context.Context, err error, timeout time.Duration, op string) (msg, reason string) {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && timeout > 0 {
		if op == "run" {
			return fmt.Sprintf("timed out after %s: the remote command was killed", timeout), "timeout"
		}
		return fmt.Sprintf("timed out after %s while connecting", timeout), "timeout"
	}
	return err.Error(), hostexec.Reason(err)
}
