package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/mattn/go-isatty"
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

// sanitize makes text from outside cl (tag values, task output, worker
// names) safe to print on a terminal: control characters (C0 but tab, DEL,
// C1), bidirectional overrides and bytes that are not UTF-8 are shown as
// escapes (\x1b, \u202e) instead of being sent to the terminal, where an
// escape sequence could rewrite the screen, the window title or the
// clipboard. It is the one sanitiser of the command line; forTerminal
// applies it when the output is a terminal.
func sanitize(s string) string {
	clean := true
	for _, r := range s {
		if unsafeRune(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x80 && unsafeRune(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func unsafeRune(r rune) bool {
	switch {
	case r == '\t':
		return false
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f, r == utf8.RuneError:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069: // bidi embeddings, overrides, isolates
		return true
	}
	return false
}

// forTerminal returns s sanitised when w is a terminal, unchanged when it
// is a pipe or a file (a log collected by a script keeps its bytes).
func forTerminal(w io.Writer, s string) string {
	if isTerminal(w) {
		return sanitize(s)
	}
	return s
}
