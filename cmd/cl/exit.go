package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/celeroot/celeroot/config"
)

// Exit codes of every cl command; docs/cli.md#exit-codes lists them.
const (
	ExitOK          = 0   // success
	ExitError       = 1   // any error: bad input, invalid config, failed operation
	ExitChanges     = 2   // a check found differences (drift, outdated hosts, pending changes)
	ExitInterrupted = 130 // stopped by Ctrl-C / SIGINT
)

// exitError carries an exit code without printing anything more.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// withCode makes err end the program with code.
func withCode(code int, err error) error { return &exitError{code: code, err: err} }

// silentExit ends the program with code after the command printed its own
// report.
func silentExit(code int) error { return &exitError{code: code} }

// exitCode maps an error to the process exit code and prints it.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			printErr(stderr, ee.err)
		}
		return ee.code
	}
	printErr(stderr, err)
	if errors.Is(err, context.Canceled) {
		return ExitInterrupted
	}
	return ExitError
}

func printErr(w io.Writer, err error) {
	if diags, ok := err.(config.Diagnostics); ok { // already one line per problem
		fmt.Fprintln(w, diags.Error())
		return
	}
	fmt.Fprintf(w, "cl: %v\n", err)
}
