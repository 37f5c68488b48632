package main

import (
	"os"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
)

// TestEveryCommandDocumented fails when a command or flag is missing from
// docs/cli.md.
func TestEveryCommandDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	var cli CLI
	parser, err := newParser(&cli, os.Stdout, os.Stderr, func(int) {})
	if err != nil {
		t.Fatal(err)
	}
	var walk func(n *kong.Node, path string)
	walk = func(n *kong.Node, path string) {
		for _, ch := range n.Children {
			if ch.Type != kong.CommandNode || ch.Hidden {
				continue
			}
			p := strings.TrimSpace(path + " " + ch.Name)
			if !strings.Contains(string(doc), "### `cl "+p) {
				t.Errorf("docs/cli.md has no section \"### `cl %s`\"", p)
			}
			for _, f := range ch.Flags {
				if f.Hidden || f.Name == "help" {
					continue
				}
				if !strings.Contains(string(doc), "--"+f.Name) {
					t.Errorf("docs/cli.md does not mention --%s (cl %s)", f.Name, p)
				}
			}
			walk(ch, p)
		}
	}
	walk(parser.Model.Node, "")
	for _, f := range parser.Model.Flags {
		if f.Name != "help" && !strings.Contains(string(doc), "--"+f.Name) {
			t.Errorf("docs/cli.md does not mention global flag --%s", f.Name)
		}
	}
}
