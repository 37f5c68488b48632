//go:build !linux

package queuetest

import "os/exec"

// dieWithTest does nothing where the kernel cannot tie a child's life to
// its parent's; t.Cleanup stops the servers of tests that end normally.
func dieWithTest(*exec.Cmd) {}
