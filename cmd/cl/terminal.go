package main

import (
	"io"
	"os"

	"github.com/mattn/go-isatty"

	"github.com/celeroot/celeroot/termtext"
)

// isTerminal reports whether stream (a reader or a writer) is a terminal:
// an *os.File on a tty, or a stream that says so itself (tests use one).
func isTerminal(stream any) bool {
	switch t := stream.(type) {
	case interface{ IsTerminal() bool }:
		return t.IsTerminal()
	case *os.File:
		return isatty.IsTerminal(t.Fd()) || isatty.IsCygwinTerminal(t.Fd())
	}
	return false
}

// forTerminal returns s cleaned when w is a terminal (termtext.Clean, the
// one sanitiser of cl's output: control characters, escape sequences and
// bidirectional overrides shown as escapes), unchanged when it is a pipe or
// a file (a log collected by a script keeps its bytes).
func forTerminal(w io.Writer, s string) string {
	if isTerminal(w) {
		return termtext.Clean(s)
	}
	return s
}
