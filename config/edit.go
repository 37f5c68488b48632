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
	"time"
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
	// Retry is shown the problems found after an invalid save and asked
	// whether to edit again; false aborts. The error Edit then returns
	// does not repeat the problems. Without Retry, the error lists them.
	Retry func(Diagnostics) bool
	// RejectedDir is where an invalid edit that is not retried is kept
	// (RejectedDir() when empty), outside the work tree.
	RejectedDir string
}

// Edit opens a temporary copy of cl.yaml in an editor, validates what was
// saved and atomically replaces cl.yaml with it, under the registry lock
// (LockFile). The real file is never touched by the editor, so an aborted
// or invalid edit leaves it as it was; when cl.yaml was changed by someone
// else while the editor was open, the edit is refused rather than undo
// that change. A refused edit is kept in a 0600 file outside the work
// tree, which the error names. It returns the number of bytes written.
func Edit(ctx context.Context, o EditOptions) (int, error) {
	orig, err := readConfigFile(o.Load.Path)
	if err != nil {
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
			return writeEdit(ctx, o, orig, edited)
		}
		// Point the diagnostics at the temp file the user is editing.
		for i := range diags {
			if diags[i].File == o.Load.Path {
				diags[i].File = filepath.Base(o.Load.Path) + " (edited copy)"
			}
		}
		if o.Retry != nil && o.Retry(diags.Errors()) {
			continue
		}
		saved, err := keepRejected(o, edited)
		if err != nil {
			return 0, fmt.Errorf("the edit is invalid; %s left unchanged, and keeping your edited copy failed: %w", o.Load.Path, err)
		}
		if o.Retry != nil { // it has shown the problems
			return 0, fmt.Errorf("the edit is invalid; %s left unchanged, your edited copy is in %s", o.Load.Path, saved)
		}
		return 0, fmt.Errorf("the edit is invalid; %s left unchanged, your edited copy is in %s:\n%w", o.Load.Path, saved, diags.Errors())
	}
}

// writeEdit writes edited over cl.yaml under the registry lock, when
// cl.yaml is still orig.
func writeEdit(ctx context.Context, o EditOptions, orig, edited []byte) (int, error) {
	unlock, err := LockFile(ctx, o.Load.Path)
	if err != nil {
		return 0, err
	}
	defer unlock()
	cur, err := readConfigFile(o.Load.Path)
	if err != nil {
		return 0, err
	}
	if !bytes.Equal(cur, orig) {
		saved, kerr := keepRejected(o, edited)
		if kerr != nil {
			return 0, fmt.Errorf("%s was changed by someone else while you edited it, so your edit was not written, and keeping it failed: %w", o.Load.Path, kerr)
		}
		return 0, fmt.Errorf("%s was changed by someone else while you edited it, so your edit was not written (it would undo that change); your edited copy is in %s: run `cl config edit` again and redo it", o.Load.Path, saved)
	}
	if err := WriteFileAtomic(o.Load.Path, edited, 0o644); err != nil {
		return 0, err
	}
	return len(edited), nil
}

// RejectedDir is where `cl config edit` keeps an edit it did not write:
// $XDG_STATE_HOME/celeroot/rejected, else ~/.local/state/celeroot/rejected,
// else the OS temp directory.
func RejectedDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "celeroot", "rejected")
	}
	if home, err := os.UserHomeDir(); err == nil && filepath.IsAbs(home) {
		return filepath.Join(home, ".local", "state", "celeroot", "rejected")
	}
	return os.TempDir()
}

// keepRejected saves data, mode 0600, under o.RejectedDir (falling back
// to the temp directory) and returns its path.
func keepRejected(o EditOptions, data []byte) (string, error) {
	dir := o.RejectedDir
	if dir == "" {
		dir = RejectedDir()
	}
	pattern := filepath.Base(o.Load.Path) + ".rejected-" + time.Now().Format("20060102-150405") + "-*"
	f, err := createIn(dir, pattern)
	if err != nil && dir != os.TempDir() {
		f, err = createIn(os.TempDir(), pattern)
	}
	if err != nil {
		return "", err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), f.Close()
}

// createIn creates a new 0600 file in dir (made 0700 when missing).
func createIn(dir, pattern string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return os.CreateTemp(dir, pattern)
}
