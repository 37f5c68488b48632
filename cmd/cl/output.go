package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mattn/go-isatty"

	"github.com/celeroot/celeroot/termtext"
)

// table prints columns aligned by display width (termtext.Table). Cells
// may hold text from outside cl (tag values, worker names, task reasons):
// on a terminal they are cleaned (termtext.Line), in a pipe they keep their
// bytes, and a tab or line break in a cell never breaks the columns.
type table struct {
	w io.Writer
	t termtext.Table
}

func newTable(w io.Writer, headers ...string) *table {
	t := &table{w: w}
	if !isTerminal(w) {
		t.t.Clean = cellSpace.Replace
	}
	t.t.Row(headers...)
	return t
}

var cellSpace = strings.NewReplacer("\t", " ", "\n", " ", "\r", " ")

func (t *table) row(cells ...any) {
	parts := make([]string, len(cells))
	for i, c := range cells {
		parts[i] = fmt.Sprint(c)
	}
	t.t.Row(parts...)
}

func (t *table) flush() error {
	_, err := t.t.WriteTo(t.w)
	t.t = termtext.Table{Clean: t.t.Clean}
	return err
}

// plural is n with the noun in the right number: "1 host", "2 hosts",
// "0 hosts" (nouns of cl's output take an s).
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// progress is a one-line live status on a terminal (stderr); silent
// otherwise and with -o json.
type progress struct {
	a    *App
	verb string
	on   bool
}

func newProgress(a *App, verb string) *progress {
	f, ok := a.Stderr.(*os.File)
	return &progress{a: a, verb: verb, on: ok && isatty.IsTerminal(f.Fd()) && !a.JSON()}
}

func (p *progress) update(done, total int, last string) {
	if p.on {
		fmt.Fprintf(p.a.Stderr, "\r\033[K%s %d/%d (%s)", p.verb, done, total, last)
	}
}

func (p *progress) done() {
	if p.on {
		fmt.Fprint(p.a.Stderr, "\r\033[K")
	}
}
