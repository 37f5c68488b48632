package main

import (
	"io"
	"reflect"
	"strings"

	"github.com/alecthomas/kong"
)

func newParser(cli *CLI, stdout, stderr io.Writer, exit func(int)) (*kong.Kong, error) {
	return kong.New(cli, parserOptions(stdout, stderr, exit)...)
}

// newParserFor is newParser for one command line: when args name a
// command, only that command's subtree is built. Kong builds its model by
// reflection over every command and flag on each start, which grew to a
// third of a short command's start-up (page faults of the fresh heap). The
// subtree parses, helps and fails exactly as in the whole tree
// (TestParserForMatchesWholeTree); the root's own help, errors and
// completion take the whole tree.
func newParserFor(cli *CLI, args []string, stdout, stderr io.Writer, exit func(int)) (*kong.Kong, error) {
	name := commandWord(args)
	f, ok := reflect.TypeFor[CLI]().FieldByName(kongName(name))
	if _, isCmd := f.Tag.Lookup("cmd"); name == "" || name == "completion" || !ok || !isCmd {
		return newParser(cli, stdout, stderr, exit)
	}
	cmd := reflect.ValueOf(cli).Elem().FieldByIndex(f.Index).Addr().Interface()
	opts := append(parserOptions(stdout, stderr, exit), kong.DynamicCommand(name, f.Tag.Get("help"), "", cmd, string(f.Tag)))
	return kong.New(&cli.Globals, opts...)
}

// commandWord is the first word of args that is not a global flag or a
// global flag's value ("" when there is none or args ask for help first).
func commandWord(args []string) string {
	takesValue := map[string]bool{"-c": true, "--config": true, "--env": true, "-o": true, "--output": true,
		"--log-level": true, "--log-format": true}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case takesValue[a]:
			i++
		case strings.HasPrefix(a, "-"):
			if k, _, ok := strings.Cut(a, "="); !ok || !takesValue[k] {
				return "" // --help, --version, an unknown flag or "--": the whole tree answers
			}
		default:
			return a
		}
	}
	return ""
}

// kongName is the CLI field Kong names name ("host" → "Host").
func kongName(name string) string {
	if name == "" || strings.ContainsAny(name, "-_") {
		return ""
	}
	return strings.ToUpper(name[:1]) + name[1:]
}

func parserOptions(stdout, stderr io.Writer, exit func(int)) []kong.Option {
	return []kong.Option{
		kong.Name("cl"),
		kong.Description("celeroot: run fleets of plain Linux hosts by GitOps. Docs: docs/cli.md"),
		kong.Writers(stdout, stderr),
		kong.Exit(exit),
		kong.UsageOnError(),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
		kong.Vars{"version": versionLine()},
	}
}
