package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/termtext"
)

// ttyBuffer is a buffer that says it is a terminal.
type ttyBuffer struct{ bytes.Buffer }

func (*ttyBuffer) IsTerminal() bool { return true }

func TestSanitize(t *testing.T) {
	cases := []struct{ in, want string }{
		{"plain text, é, 日本", "plain text, é, 日本"},
		{"tab\tkept", "tab\tkept"},
		{"\x1b[2J\x1b[H", `\x1b[2J\x1b[H`},
		{"title\x1b]0;pwned\x07", `title\x1b]0;pwned\x07`},
		{"cr\rover", `cr\x0dover`},
		{"nl\nline", `nl\x0aline`},
		{"del\x7f", `del\x7f`},
		{"c1\u009b31m", `c1\u009b31m`},
		{"bidi\u202eevil", `bidi\u202eevil`},
		{"bad\xffbyte", `bad\xffbyte`},
	}
	for _, c := range cases {
		if got := termtext.Clean(c.in); got != c.want {
			t.Errorf("sanitize(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestHostListSanitisesTagsOnATerminal: a tag value with an escape sequence
// is shown escaped on a terminal and kept as written in a pipe.
func TestHostListSanitisesTagsOnATerminal(t *testing.T) {
	path := initProject(t)
	if _, stderr, code := cl(t, "-c", path, "host", "add", "web9", "--role", "default", "--address", "10.9.9.9", "--no-deploy", "--no-commit",
		"--tag", "note=\x1b[2J\x1b]0;pwned\x07x"); code != 0 {
		t.Fatalf("host add: %d %s", code, stderr)
	}
	tty := &ttyBuffer{}
	a := &App{Globals: &Globals{ConfigPath: path, Output: "text"}, Stdout: tty, Stderr: &bytes.Buffer{}}
	if err := listHosts(a, "", nil); err != nil {
		t.Fatal(err)
	}
	if out := tty.String(); strings.ContainsAny(out, "\x1b\x07") || !strings.Contains(out, `note=\x1b[2J\x1b]0;pwned\x07x`) {
		t.Errorf("host list on a terminal:\n%q", out)
	}
	out, _, code := cl(t, "-c", path, "host", "list")
	if code != 0 || !strings.Contains(out, "note=\x1b[2J\x1b]0;pwned\x07x") {
		t.Errorf("host list in a pipe changed the tag: %d %q", code, out)
	}
}

// TestTaskOutputSanitisedOnATerminal: run output (cl task run --wait, cl
// task logs) and its host prefix are sanitised on a terminal only.
func TestTaskOutputSanitisedOnATerminal(t *testing.T) {
	line := queue.LogLine{Stream: "stdout", Text: "red \x1b[31mtext\x1b[0m\rover"}
	tty := &ttyBuffer{}
	p := &logPrinter{a: &App{Stdout: tty, Stderr: tty}}
	p.print("web1\x1b[8m", line)
	p.print("", queue.LogLine{Stream: "stderr", Text: "\u009b2J"})
	want := `web1\x1b[8m | red \x1b[31mtext\x1b[0m\x0dover` + "\n" + `\u009b2J` + "\n"
	if got := tty.String(); got != want {
		t.Errorf("on a terminal:\n got %q\nwant %q", got, want)
	}
	var pipe bytes.Buffer
	p = &logPrinter{a: &App{Stdout: &pipe, Stderr: &pipe}}
	p.print("web1", line)
	if got := pipe.String(); got != "web1 | "+line.Text+"\n" {
		t.Errorf("in a pipe: %q", got)
	}
}
