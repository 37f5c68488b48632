package hostexec

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"
)

// Upload and ReadFile for transports that only know how to Run: they are
// built from ordinary commands so that Become (sudo) applies to them the
// same way it applies to Run.

const (
	// uploadScript streams stdin into a fresh temporary file. noclobber
	// makes the redirection fail rather than follow anything planted there.
	uploadScript = `umask 077 && set -C && exec cat > "$1"`
	// commitScript sets the mode, flushes the data, and renames the
	// temporary file over the destination (atomic on one filesystem).
	commitScript = `chmod "$1" "$2" && { sync "$2" 2>/dev/null || :; } && exec mv -f "$2" "$3"`
	// readScript exits 44 for a missing file so that it maps onto
	// fs.ErrNotExist.
	readScript  = `[ -e "$1" ] || [ -L "$1" ] || exit 44; exec cat -- "$1"`
	readMissing = 44
	// MaxReadFile caps what Host.ReadFile returns (larger files are an
	// *OutputTooLargeError).
	MaxReadFile    = 64 << 20
	cleanupTimeout = 10 * time.Second
)

func uploadViaRun(ctx context.Context, h Host, name string, r io.Reader, dst string, mode fs.FileMode) error {
	fail := func(err error) error { return fmt.Errorf("upload %s to %s: %w", dst, name, err) }
	dir, base := path.Split(dst)
	if base == "" || base == "." || base == ".." {
		return fail(fmt.Errorf("destination %q is not a file name", dst))
	}
	tmp := dir + "." + base + ".tmp-" + randomHex(8)
	if mode.Perm() == 0 {
		mode = 0o644
	}
	var stderr limitedBuffer
	res, err := h.Run(ctx, Command{Argv: []string{"/bin/sh", "-c", uploadScript, "sh", tmp}, Stdin: r, Stderr: &stderr})
	if err == nil && !res.OK() {
		err = commandFailed("write "+tmp, res, &stderr)
	}
	if err == nil {
		stderr.Reset()
		res, err = h.Run(ctx, Command{Argv: []string{"/bin/sh", "-c", commitScript, "sh", fmt.Sprintf("%o", mode.Perm()), tmp, dst}, Stderr: &stderr})
		if err == nil && !res.OK() {
			err = commandFailed("rename into place", res, &stderr)
		}
	}
	if err != nil {
		// ctx may be what failed: clean up under a context of our own.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		_, _ = h.Run(cctx, Command{Argv: []string{"rm", "-f", "--", tmp}})
		return fail(err)
	}
	return nil
}

func readFileViaRun(ctx context.Context, h Host, name, p string) ([]byte, error) {
	var stdout bytes.Buffer
	var stderr limitedBuffer
	res, err := h.Run(ctx, Command{Argv: []string{"/bin/sh", "-c", readScript, "sh", p}, Stdout: &stdout, Stderr: &stderr, MaxStdout: MaxReadFile})
	switch {
	case err != nil:
		return nil, fmt.Errorf("read %s on %s: %w", p, name, err)
	case res.ExitCode == readMissing:
		return nil, fmt.Errorf("read %s on %s: %w", p, name, fs.ErrNotExist)
	case !res.OK():
		return nil, fmt.Errorf("read %s on %s: %w", p, name, commandFailed("cat", res, &stderr))
	}
	return stdout.Bytes(), nil
}

func commandFailed(what string, res Result, stderr *limitedBuffer) error {
	msg := strings.TrimSpace(stderr.String())
	if msg == "" {
		return fmt.Errorf("%s: exit status %d", what, res.ExitCode)
	}
	return fmt.Errorf("%s: exit status %d: %s", what, res.ExitCode, msg)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// limitedBuffer keeps the first 4 KiB written to it, for error messages.
type limitedBuffer struct{ bytes.Buffer }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := 4096 - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}
