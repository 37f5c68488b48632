package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// maxCmdLines is how long a non-test file of cmd/cl may be: commands parse
// flags, call a package and print; logic that makes a file longer belongs
// in the package that owns it (see docs/development.md).
const maxCmdLines = 150

// longRendering lists the only files allowed over maxCmdLines, each a pure
// rendering file, with the reason.
var longRendering = map[string]string{
	"deploy_view.go": "the live per-host deploy table on a terminal (redrawn in place) and the JSON event lines: presentation state only, no deploy logic",
}

// TestCmdFilesAreThin fails when a non-test .go file of cmd/cl is over
// maxCmdLines lines and is not an allowed rendering file.
func TestCmdFilesAreThin(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		n := bytes.Count(b, []byte("\n"))
		if _, ok := longRendering[f]; ok {
			seen[f] = true
			continue
		}
		if n > maxCmdLines {
			t.Errorf("cmd/cl/%s has %d lines (at most %d): move its logic into the package that owns it, or split its printing into a file of its own", f, n, maxCmdLines)
		}
	}
	for f := range longRendering {
		if !seen[f] {
			t.Errorf("longRendering names %s, which is gone: take it off the list", f)
		}
	}
}
