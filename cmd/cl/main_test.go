package main

import (
	"fmt"
	"os"
	"testing"
)

// TestMain gives the tests a private XDG_STATE_HOME, so that the audit
// mirrors and checkpoints of the commands they run (and anything else kept
// in the user's state directory) land in a temporary directory, not in ~.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cl-test-state-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("XDG_STATE_HOME", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
