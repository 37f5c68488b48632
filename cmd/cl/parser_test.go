package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
)

// parseOutcome is what one parser made of a command line: the selected
// command, the error, the exit code asked for and what it printed.
type parseOutcome struct {
	command, err, out string
	exit              int
}

func parseWith(build func(cli *CLI, stdout, stderr *bytes.Buffer, exit func(int)) (*kong.Kong, error), args []string) (o parseOutcome) {
	var cli CLI
	var stdout, stderr bytes.Buffer
	o.exit = -1
	p, err := build(&cli, &stdout, &stderr, func(c int) { panic(exitPanic(c)) })
	if err != nil {
		o.err = "build: " + err.Error()
		return o
	}
	defer func() {
		if r := recover(); r != nil {
			c, ok := r.(exitPanic)
			if !ok {
				panic(r)
			}
			o.exit = int(c)
		}
		o.out = stdout.String() + "\n--stderr--\n" + stderr.String()
	}()
	kctx, err := p.Parse(args)
	if err != nil {
		o.err = err.Error()
		return o
	}
	o.command = kctx.Command() + fmt.Sprintf(" %+v", cli.Globals)
	return o
}

// Every command line parses, helps and fails the same through the
// one-command parser as through the whole tree.
func TestParserForMatchesWholeTree(t *testing.T) {
	var cli CLI
	full, err := newParser(&cli, &bytes.Buffer{}, &bytes.Buffer{}, func(int) {})
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]string
	var walk func(n *kong.Node, path []string)
	walk = func(n *kong.Node, path []string) {
		for _, c := range n.Children {
			if c.Type != kong.CommandNode {
				continue
			}
			p := append(append([]string{}, path...), c.Name)
			lines = append(lines, p, append(append([]string{}, p...), "--help"), append([]string{"-o", "json", "--env=staging"}, p...),
				append(append([]string{"-c", "x.yaml"}, p...), "--no-such-flag"), append(append([]string{}, p...), "no-such-word"))
			walk(c, p)
		}
	}
	walk(full.Model.Node, nil)
	lines = append(lines, nil, []string{"--help"}, []string{"hots"}, []string{"--version"}, []string{"-c"}, []string{"--config=x", "version"})
	if len(lines) < 100 {
		t.Fatalf("only %d command lines from the tree: is the walk right?", len(lines))
	}
	whole := func(cli *CLI, stdout, stderr *bytes.Buffer, exit func(int)) (*kong.Kong, error) {
		return newParser(cli, stdout, stderr, exit)
	}
	fast := 0
	for _, args := range lines {
		one := func(cli *CLI, stdout, stderr *bytes.Buffer, exit func(int)) (*kong.Kong, error) {
			return newParserFor(cli, args, stdout, stderr, exit)
		}
		want, got := parseWith(whole, args), parseWith(one, args)
		if got != want {
			t.Errorf("cl %s:\n whole tree: %+v\n one command: %+v", strings.Join(args, " "), want, got)
		}
		if commandWord(args) != "" {
			fast++
		}
	}
	if fast < len(lines)/2 {
		t.Errorf("only %d of %d command lines took the one-command parser", fast, len(lines))
	}
}

func TestCommandWord(t *testing.T) {
	for args, want := range map[string]string{
		"host status":                  "host",
		"-c x.yaml --env prod task x":  "task",
		"--config=x.yaml -o json plan": "plan",
		"--help host":                  "",
		"--version":                    "",
		"-c":                           "",
		"":                             "",
		"--no-such host":               "",
	} {
		if got := commandWord(strings.Fields(args)); got != want {
			t.Errorf("commandWord(%q) = %q, want %q", args, got, want)
		}
	}
}
