// Command testhosts brings up real OpenSSH test hosts for bench scripts.
//
//	testhosts up [-n 20] [-o fleet.json] [-user cltest] [-prefix host] [-bind /path]... [-exit-with-parent=true]
//	testhosts down [-force]
//	testhosts inventory [-f fleet.json] [-format ansible]
//
// `up` stays in the foreground until SIGINT or SIGTERM (or until its parent
// process exits, e.g. a killed `go run`), then tears the fleet down and
// removes the description file. See package e2e/testhost.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/celeroot/celeroot/e2e/testhost"
)

const usage = `usage:
  testhosts up [-n 20] [-o fleet.json] [-user cltest] [-prefix host] [-bind /path]...
      start a fleet, write its JSON description, stay up until SIGINT/SIGTERM
  testhosts down [-force]
      sweep leftovers of fleets whose owner died (-force: stop live fleets too)
  testhosts inventory [-f fleet.json] [-format ansible]
      print an inventory for a running fleet
`

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "testhosts:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("missing command: up, down or inventory")
	}
	switch args[0] {
	case "up":
		return up(args[1:], stderr)
	case "down":
		return down(args[1:], stdout)
	case "inventory":
		return inventory(args[1:], stdout)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q: use up, down or inventory", args[0])
}

// listFlag collects a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func up(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	n := fs.Int("n", 20, "number of hosts")
	out := fs.String("o", "", "write the fleet's JSON description to this file")
	user := fs.String("user", testhost.DefaultUser, "login user on the hosts")
	prefix := fs.String("prefix", "host", "host name prefix")
	withParent := fs.Bool("exit-with-parent", true,
		"tear down when the parent process exits (makes `kill` of `go run` work)")
	var binds listFlag
	fs.Var(&binds, "bind", "extra path private to each host (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if reason := testhost.SkipReason(); reason != "" {
		return errors.New(reason)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *withParent {
		ctx = watchParent(ctx)
	}

	begin := time.Now()
	f, err := testhost.Start(ctx, *n, testhost.WithUser(*user), testhost.WithNamePrefix(*prefix),
		testhost.WithBindMounts(binds...))
	if err != nil {
		return err
	}
	took := time.Since(begin)
	err = serve(ctx, f, *out, took, stderr)
	stop() // a second signal now kills us; `testhosts down` sweeps the rest
	fmt.Fprintf(stderr, "testhosts: tearing down %s\n", f.ID())
	return errors.Join(err, f.Close(), removeFile(*out))
}

// serve publishes the description and waits for a signal.
func serve(ctx context.Context, f *testhost.Fleet, out string, took time.Duration, stderr io.Writer) error {
	if out != "" {
		if err := f.Describe().WriteFile(out); err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "testhosts: fleet %s: %d hosts up in %s (bridge %s, user %s, key %s)\n",
		f.ID(), len(f.Hosts), took.Round(time.Millisecond), f.BridgeIP(), f.User, f.KeyPath)
	if out != "" {
		fmt.Fprintf(stderr, "testhosts: description in %s; SIGINT/SIGTERM (pid %d) tears down\n", out, os.Getpid())
	}
	<-ctx.Done()
	return nil
}

// watchParent returns a context that ends when this process is reparented,
// i.e. its parent died. `go run` does not forward SIGTERM to the program it
// runs, so without this `kill <pid of go run>` would orphan the fleet.
func watchParent(ctx context.Context) context.Context {
	ctx, cancel := context.WithCancel(ctx)
	parent := os.Getppid()
	go func() {
		defer cancel()
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if os.Getppid() != parent {
					return
				}
			}
		}
	}()
	return ctx
}

func removeFile(path string) error {
	if path == "" {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove description: %w", err)
	}
	return nil
}

func down(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("down", flag.ContinueOnError)
	force := fs.Bool("force", false, "also stop fleets whose owner is still running (SIGTERM, then remove)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("down must run as root")
	}
	swept, err := testhost.Sweep(context.Background(), *force)
	for _, s := range swept {
		fmt.Fprintln(stdout, "swept", s)
	}
	if err == nil && len(swept) == 0 {
		fmt.Fprintln(stdout, "nothing to sweep")
	}
	return err
}

func inventory(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("inventory", flag.ContinueOnError)
	file := fs.String("f", "/tmp/fleet.json", "fleet description written by `testhosts up -o`")
	format := fs.String("format", "ansible", "inventory format: ansible")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *format != "ansible" {
		return fmt.Errorf("unknown inventory format %q: use ansible", *format)
	}
	d, err := testhost.ReadDescription(*file)
	if err != nil {
		return err
	}
	_, err = io.WriteString(stdout, d.AnsibleInventory())
	return err
}
