package hostexec

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// testHostConformance is the behaviour every Host implementation must
// have. The hosts under test run on this machine, so the tests check
// their effects with the local file system and /proc.
func testHostConformance(t *testing.T, h Host) {
	ctx := context.Background()
	run := func(t *testing.T, c Command) (string, string, Result) {
		t.Helper()
		var out, errb bytes.Buffer
		c.Stdout, c.Stderr = &out, &errb
		res, err := h.Run(ctx, c)
		if err != nil {
			t.Fatalf("Run(%s): %v", c, err)
		}
		return out.String(), errb.String(), res
	}

	t.Run("ArgvQuoting", func(t *testing.T) {
		// Concurrently: this also exercises many sessions at once.
		var wg sync.WaitGroup
		for _, s := range hostileStrings {
			wg.Go(func() {
				var out strings.Builder
				if _, err := h.Run(ctx, Command{Argv: []string{"printf", "%s", s}, Stdout: &out}); err != nil || out.String() != s {
					t.Errorf("argv %q came back as %q (%v)", s, out.String(), err)
				}
			})
			wg.Go(func() {
				var out strings.Builder
				if _, err := h.Run(ctx, Command{Line: `printf %s "$V"`, Env: map[string]string{"V": s}, Stdout: &out}); err != nil || out.String() != s {
					t.Errorf("env value %q came back as %q (%v)", s, out.String(), err)
				}
			})
		}
		wg.Wait()
	})
	t.Run("Env", func(t *testing.T) {
		out, _, _ := run(t, Command{Argv: []string{"sh", "-c", `printf '%s|%s|%s' "$FOO" "${EMPTY-unset}" "$PATH"`},
			Env: map[string]string{"FOO": "bar baz", "EMPTY": ""}})
		if parts := strings.SplitN(out, "|", 3); len(parts) != 3 || parts[0] != "bar baz" || parts[1] != "" || parts[2] == "" {
			t.Errorf("got %q", out)
		}
		_, err := h.Run(ctx, Command{Argv: []string{"true"}, Env: map[string]string{"BAD-NAME": "x"}})
		if !errors.Is(err, ErrInvalidCommand) {
			t.Errorf("bad env name: got %v, want ErrInvalidCommand", err)
		}
	})
	t.Run("StdinAndStreams", func(t *testing.T) {
		data := make([]byte, 1<<20)
		rand.Read(data)
		var out bytes.Buffer
		res, err := h.Run(ctx, Command{Argv: []string{"cat"}, Stdin: bytes.NewReader(data), Stdout: &out})
		if err != nil || !res.OK() || !bytes.Equal(out.Bytes(), data) {
			t.Fatalf("cat: res %+v err %v, %d bytes back", res, err, out.Len())
		}
		o, e, _ := run(t, Command{Line: "echo out; echo err >&2"})
		if o != "out\n" || e != "err\n" {
			t.Errorf("stdout %q stderr %q", o, e)
		}
	})
	t.Run("LargeOutput", func(t *testing.T) {
		const size = 10 << 20
		hash := sha256.New()
		n := &countWriter{w: hash}
		res, err := h.Run(ctx, Command{Line: fmt.Sprintf("head -c %d /dev/zero", size), Stdout: n})
		want := sha256.Sum256(make([]byte, size))
		if err != nil || !res.OK() || n.n != size || !bytes.Equal(hash.Sum(nil), want[:]) {
			t.Fatalf("res %+v err %v: got %d bytes", res, err, n.n)
		}
	})
	t.Run("ExitCodes", func(t *testing.T) {
		for _, tc := range []struct {
			cmd  Command
			code int
			sig  string
		}{
			{Command{Line: "exit 3"}, 3, ""},
			{Command{Argv: []string{"false"}}, 1, ""},
			{Command{Argv: []string{"/nonexistent/program"}}, 127, ""},
			{Command{Line: "kill -TERM $$"}, 128 + 15, "TERM"},
		} {
			_, _, res := run(t, tc.cmd)
			if res.ExitCode != tc.code || res.Signal != tc.sig {
				t.Errorf("%s: got exit %d signal %q, want %d %q", tc.cmd, res.ExitCode, res.Signal, tc.code, tc.sig)
			}
		}
	})
	t.Run("Dir", func(t *testing.T) {
		dir := t.TempDir()
		out, _, _ := run(t, Command{Argv: []string{"pwd"}, Dir: dir})
		if strings.TrimSpace(out) != dir {
			t.Errorf("pwd in %s: %q", dir, out)
		}
	})
	t.Run("Upload", func(t *testing.T) {
		dir := t.TempDir()
		dst := filepath.Join(dir, "file.txt")
		if err := h.Upload(ctx, strings.NewReader("new content"), dst, 0o640); err != nil {
			t.Fatal(err)
		}
		assertFile(t, dst, "new content")
		if st, _ := os.Stat(dst); st.Mode().Perm() != 0o640 {
			t.Errorf("mode %v, want 0640", st.Mode().Perm())
		}
		got, err := h.ReadFile(ctx, dst)
		if err != nil || string(got) != "new content" {
			t.Errorf("ReadFile: %q, %v", got, err)
		}
		// A reader that fails midway leaves dst as it was and no temp file.
		bad := io.MultiReader(bytes.NewReader(bytes.Repeat([]byte("x"), 1<<20)), errReader{errors.New("disk on fire")})
		err = h.Upload(ctx, bad, dst, 0o644)
		if err == nil || !strings.Contains(err.Error(), "disk on fire") {
			t.Fatalf("failing upload: err %v", err)
		}
		assertFile(t, dst, "new content")
		fresh := filepath.Join(dir, "fresh")
		if err := h.Upload(ctx, io.MultiReader(strings.NewReader("partial"), errReader{io.ErrUnexpectedEOF}), fresh, 0o644); err == nil {
			t.Fatal("failing upload of a new file succeeded")
		}
		if _, err := os.Stat(fresh); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("failed upload left %s: %v", fresh, err)
		}
		assertOnlyFiles(t, dir, "file.txt")
		if err := h.Upload(ctx, strings.NewReader("x"), filepath.Join(dir, "missing", "f"), 0o644); err == nil {
			t.Error("upload into a missing directory succeeded")
		}
	})
	t.Run("ReadFileMissing", func(t *testing.T) {
		_, err := h.ReadFile(ctx, filepath.Join(t.TempDir(), "nope"))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("got %v, want fs.ErrNotExist", err)
		}
	})
	t.Run("CancelKillsProcessGroup", func(t *testing.T) {
		testCancelKills(t, h)
	})
	t.Run("MaxStdout", func(t *testing.T) {
		testMaxStdout(t, h)
	})
	t.Run("ExitWithoutReadingStdin", func(t *testing.T) {
		testExitWithoutReadingStdin(t, h)
	})
}

// testExitWithoutReadingStdin runs a command that exits without reading
// its stdin, a pipe nobody writes to or closes (as a deploy's probe that
// fails before the host reads what comes next): Run must return once the
// command exited, not wait for the stdin. The deadline is far beyond what
// `exit 3` takes and shorter than Local's wait for stragglers (WaitDelay)
// with the KillGrace of the Local under test.
func testExitWithoutReadingStdin(t *testing.T, h Host) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pr, pw := io.Pipe()
	defer pw.Close()
	var out strings.Builder
	res, err := h.Run(ctx, Command{Line: "echo bye; exit 3", Stdin: pr, Stdout: &out})
	if err != nil || res.ExitCode != 3 || out.String() != "bye\n" {
		t.Fatalf("Run with a stdin that blocks: res %+v err %v out %q, want exit 3 and \"bye\"", res, err, out.String())
	}
	// The stdin is still usable afterwards: a write fails, it does not hang.
	pr.CloseWithError(errors.New("done"))
	if _, err := pw.Write([]byte("late")); err == nil {
		t.Error("write into a closed stdin succeeded")
	}
}

// testMaxStdout runs a command that prints without end under a 64 KiB cap:
// Run must stop it and fail with an error naming the command and the cap,
// having passed on at most the cap.
func testMaxStdout(t *testing.T, h Host) {
	const limit = 64 << 10
	out := countWriter{w: io.Discard}
	start := time.Now()
	_, err := h.Run(context.Background(), Command{Argv: []string{"yes", "0123456789abcdef"}, Stdout: &out, MaxStdout: limit})
	var tooLarge *OutputTooLargeError
	if !errors.Is(err, ErrOutputTooLarge) || !errors.As(err, &tooLarge) || tooLarge.Max != limit {
		t.Fatalf("Run of endless output with MaxStdout: %v, want an *OutputTooLargeError", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "yes 0123456789abcdef") || !strings.Contains(msg, "65536 bytes") || strings.Contains(msg, "\n") {
		t.Errorf("error %q does not name the command and the cap on one line", msg)
	}
	if n := out.n; n > limit {
		t.Errorf("%d bytes reached Stdout, more than the cap of %d", n, limit)
	}
	t.Logf("stopped after %v", time.Since(start))
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("stopping the command took %v", d)
	}
	// ReadFile has its cap too: a (sparse) file past MaxReadFile.
	big := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(big, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, MaxReadFile+1); err != nil {
		t.Fatal(err)
	}
	if b, err := h.ReadFile(context.Background(), big); !errors.Is(err, ErrOutputTooLarge) || len(b) != 0 {
		t.Errorf("ReadFile of %d bytes: %d bytes, %v; want ErrOutputTooLarge", MaxReadFile+1, len(b), err)
	}
	// Under the cap, output passes unchanged and no error.
	var small strings.Builder
	if _, err := h.Run(context.Background(), Command{Argv: []string{"printf", "%s", "hello"}, Stdout: &small, MaxStdout: 5}); err != nil || small.String() != "hello" {
		t.Errorf("output of exactly the cap: %q, %v", small.String(), err)
	}
}

// testCancelKills starts a shell with a background sleep, cancels, and
// requires both to be gone within 5 s.
func testCancelKills(t *testing.T, h Host) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pids")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := h.Run(ctx, Command{Line: `sleep 300 & echo "$$ $!" > ` + Quote(pidFile) + `.tmp && mv ` + Quote(pidFile) + `.tmp ` + Quote(pidFile) + `; wait`})
		done <- err
	}()
	pids := waitForPIDs(t, pidFile)
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run after cancel: %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	for _, pid := range pids {
		waitGone(t, pid, start)
	}
	t.Logf("processes %v gone %v after cancel", pids, time.Since(start).Round(time.Millisecond))
}

func waitForPIDs(t *testing.T, file string) []int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(file); err == nil {
			var pids []int
			for _, f := range strings.Fields(string(b)) {
				n, err := strconv.Atoi(f)
				if err != nil {
					t.Fatalf("pid file %q", b)
				}
				pids = append(pids, n)
			}
			return pids
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never appeared", file)
	return nil
}

// waitGone fails unless pid is gone (or a zombie) within 5 s of start.
func waitGone(t *testing.T, pid int, start time.Time) {
	t.Helper()
	for time.Since(start) < 5*time.Second {
		if !processAlive(pid) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("process %d still alive 5s after cancel", pid)
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// state is the field after the ")" that ends the command name
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && len(s) > i+2 {
		return s[i+2] != 'Z' && s[i+2] != 'X'
	}
	return true
}

var hostileStrings = []string{
	`a'b; rm -rf /`, `$(x)`, "`id`", "line1\nline2\n", `"double"`, `back\slash\\`, " spaces  ", "",
	"*", "~", "-n", "--", "ünïcödé", "$HOME", "a\tb", "'", "''", "%s%d", "!event", "a=b", "\r\n", "#comment", ";&|<>()",
}

type countWriter struct {
	w io.Writer
	n int
}

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += len(p)
	return c.w.Write(p)
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func assertFile(t *testing.T, path, want string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil || string(b) != want {
		t.Errorf("%s: %q, %v; want %q", path, b, err, want)
	}
}

func assertOnlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Errorf("%s holds %v, want %v", dir, got, names)
	}
}
