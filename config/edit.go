package config

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
)

// ErrNoChange is returned by Edit when the file was saved unchanged.
var ErrNoChange = errors.New("no changes")

// EditOptions configures Edit.
type EditOptions struct {
	Load   Options
	Editor string // command line; run through /bin/sh so "code --wait" works
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Retry is asked, with the problems found, whether to edit again after
	// an invalid save; false aborts.
	Retry func(Diagnostics) bool
}

// Edit opens a temporary copy of cl.yaml in an editor, validates what was
// saved and atomically replaces cl.yaml with it. The real file is never
// touched by the editor, so an aborted or invalid edit leaves it as it was.
// It returns the number of bytes written.
func Edit(ctx context.Context, o EditOptions) (int, error) {
	orig, err := readFile(o.Load.Path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, fmt.Errorf("%s: %w: create one with `cl config init`", o.Load.Path, ErrNotFound)
		}
		return 0, err
	}
	tmp, err := os.CreateTemp("", "cl-edit-*.yaml")
	if err != nil {
		return 0, err
	}
	tmpPath := tmp.Name()
	defer os.Remove(tmpPath)
	if _, err := tmp.Write(orig); err != nil {
		tmp.Close()
		return 0, err
	}
	if err := tmp.Close(); err != nil {
		return 0, err
	}
	for {
		cmd := exec.CommandContext(ctx, "/bin/sh", "-c", o.Editor+` "$1"`, "cl-edit", tmpPath)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = o.Stdin, o.Stdout, o.Stderr
		if err := cmd.Run(); err != nil {
			return 0, fmt.Errorf("editor %q failed: %w (cl.yaml left unchanged)", o.Editor, err)
		}
		edited, err := readFile(tmpPath)
		if err != nil {
			return 0, err
		}
		if bytes.Equal(edited, orig) {
			return 0, ErrNoChange
		}
		_, diags, err := Load(Options{Path: o.Load.Path, Env: o.Load.Env, Content: edited})
		if err != nil {
			return 0, err
		}
		if !diags.HasErrors() {
			if err := WriteFileAtomic(o.Load.Path, edited, 0o644); err != nil {
				return 0, err
			}
			return len(edited), nil
		}
		// Point the diagnostics at the temp file the user is editing.
		for i := range diags {
			if diags[i].File == o.Load.Path {
				diags[i].File = filepath.Base(o.Load.Path) + " (edited copy)"
			}
		}
		if o.Retry == nil || !o.Retry(diags.Errors()) {
			saved := o.Load.Path + ".rejected"
			_ = WriteFileAtomic(saved, edited, 0o600)
			return 0, fmt.Errorf("the edit is invalid; %s left unchanged, your edited copy is in %s:\n%w", o.Load.Path, saved, diags.Errors())
		}
	}
}
