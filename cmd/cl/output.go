package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/mattn/go-isatty"
)

// table prints aligned columns. Cells may hold text from outside cl (tag
// values, worker names, task reasons): on a terminal they are sanitised,
// and a tab or line break in a cell never breaks the columns.
type table struct {
	w   *tabwriter.Writer
	tty bool
}

func newTable(w io.Writer, headers ...string) *table {
	t := &table{w: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0), tty: isTerminal(w)}
	fmt.Fprintln(t.w, strings.Join(headers, "\t"))
	return t
}

var cellSpace = strings.NewReplacer("\t", " ", "\n", " ", "\r", " ")

func (t *table) row(cells ...any) {
	parts := make([]string, len(cells))
	for i, c := range cells {
		parts[i] = fmt.Sprint(c)
		if t.tty {
			parts[i] = sanitize(parts[i])
		}
		parts[i] = cellSpace.Replace(parts[i])
	}
	fmt.Fprintln(t.w, strings.Join(parts, "\t"))
}

func (t *table) flush() error { return t.w.Flush() }

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
