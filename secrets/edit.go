package secrets

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"

	"github.com/celeroot/celeroot/config"
)

// EditOptions configure Edit.
type EditOptions struct {
	// Editor is the editor's argv (the temporary file's path is appended);
	// it is not run through a shell.
	Editor []string
	// TempDir holds the plaintext while it is edited ("": /dev/shm when
	// it exists, else the system's temporary directory).
	TempDir string
	Stdin   *os.File
	Stdout  *os.File
	Stderr  *os.File
}

// ErrUnchanged is returned by Edit when the editor left the text as it was:
// the encrypted file is not rewritten.
var ErrUnchanged = errors.New("secret unchanged")

// Edit decrypts secret name (a new secret starts empty) into a 0600
// temporary file, runs the editor on it, and encrypts the result to cfg's
// recipients, replacing the file atomically. The temporary file is
// overwritten with zeros and removed however Edit ends; when the editor
// fails nothing is re-encrypted.
func Edit(ctx context.Context, cfg *config.Config, name string, o EditOptions) (string, error) {
	path, err := AgeFile(cfg, name)
	if err != nil {
		return "", err
	}
	if len(o.Editor) == 0 {
		return "", errors.New("no editor: set $EDITOR (or $VISUAL)")
	}
	if _, err := Recipients(cfg); err != nil { // before the plaintext exists anywhere
		return "", err
	}
	var plain []byte
	if _, err := os.Stat(path); err == nil {
		if plain, err = Decrypt(cfg, name); err != nil {
			return "", err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	dir := o.TempDir
	if dir == "" {
		dir = os.TempDir()
		if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
			dir = "/dev/shm"
		}
	}
	f, err := os.CreateTemp(dir, "cl-secret-*")
	if err != nil {
		return "", fmt.Errorf("temporary file for the plaintext: %w", err)
	}
	tmp := f.Name()
	defer shred(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return "", err
	}
	_, err = f.Write(plain)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	argv := append(append([]string(nil), o.Editor...), tmp)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = o.Stdin, o.Stdout, o.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("editor %s: %w; %s left as it was", argv[0], err, path)
	}
	edited, err := os.ReadFile(tmp)
	if err != nil {
		return "", err
	}
	if bytes.Equal(edited, plain) {
		return path, ErrUnchanged
	}
	return Encrypt(cfg, name, edited)
}

// shred overwrites path with zeros, syncs, and removes it. On journaling
// or copy-on-write file systems the old blocks may survive; /dev/shm (the
// default) never reaches a disk.
func shred(path string) {
	if st, err := os.Stat(path); err == nil {
		if f, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
			_, _ = f.Write(make([]byte, st.Size()))
			_ = f.Sync()
			_ = f.Close()
		}
	}
	_ = os.Remove(path)
}
