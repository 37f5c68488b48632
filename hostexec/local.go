package hostexec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultKillGrace is how long a cancelled command gets between SIGTERM and
// SIGKILL.
const DefaultKillGrace = 3 * time.Second

// Local runs commands on this machine with os/exec: for hosts that are the
// control host itself and for `cl dev`. The zero value is ready to use.
//
// Each command runs in its own process group; when ctx is cancelled the
// group gets SIGTERM and, KillGrace later, SIGKILL, so children die too.
type Local struct {
	Name      string        // used in errors; "localhost" when empty
	Become    string        // "" or "sudo"
	KillGrace time.Duration // DefaultKillGrace when zero
}

var _ Host = (*Local)(nil)

func (l *Local) name() string {
	if l.Name == "" {
		return "localhost"
	}
	return l.Name
}

func (l *Local) grace() time.Duration {
	if l.KillGrace <= 0 {
		return DefaultKillGrace
	}
	return l.KillGrace
}

// Run runs c as a local process.
func (l *Local) Run(ctx context.Context, c Command) (Result, error) {
	return runCapped(ctx, l.name(), c, l.run)
}

func (l *Local) run(ctx context.Context, c Command) (Result, error) {
	if err := c.validate(); err != nil {
		return Result{}, fmt.Errorf("run on %s: %w", l.name(), err)
	}
	if err := checkBecome(l.Become); err != nil {
		return Result{}, fmt.Errorf("run on %s: %w", l.name(), err)
	}
	// Without sudo the environment is set directly; through sudo it has to
	// travel as an `env K=V` prefix, since sudo resets the environment.
	argv := c.argv(l.Become, l.Become == BecomeSudo)
	// stdinFailed stops the command when reading c.Stdin fails (see feedStdin).
	runCtx, stdinFailed := context.WithCancelCause(ctx)
	defer stdinFailed(nil)
	cmd := exec.CommandContext(runCtx, argv[0], argv[1:]...)
	cmd.Dir = c.Dir
	var stdin io.WriteCloser
	if f, ok := c.Stdin.(*os.File); ok || c.Stdin == nil {
		if ok {
			cmd.Stdin = f
		}
	} else {
		var err error
		if stdin, err = cmd.StdinPipe(); err != nil {
			return Result{}, fmt.Errorf("run on %s: %w", l.name(), err)
		}
	}
	cmd.Stdout = c.Stdout
	cmd.Stderr = c.Stderr
	if l.Become != BecomeSudo && len(c.Env) > 0 {
		cmd.Env = os.Environ()
		for _, k := range sortedKeys(c.Env) {
			cmd.Env = append(cmd.Env, k+"="+c.Env[k])
		}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	grace := l.grace()
	cmd.Cancel = func() error {
		pgid := cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		time.AfterFunc(grace, func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) })
		return nil
	}
	// After cancel, or once the process exited, give stragglers that hold
	// the output pipes open this long before the pipes are closed.
	cmd.WaitDelay = grace + time.Second

	start := time.Now()
	err := cmd.Start()
	if err == nil {
		if stdin != nil {
			go feedStdin(stdin, c.Stdin, stdinFailed)
		}
		err = cmd.Wait()
	} else if stdin != nil {
		stdin.Close()
	}
	res := Result{Duration: time.Since(start), ExitCode: -1}
	if cmd.Process == nil && ctx.Err() == nil {
		// Not started: report it the way a shell (and so the SSH
		// transport) does, as exit status 127, 126 or 1 with a message.
		if code := startFailure(err, c.Dir); code != 0 {
			fmt.Fprintf(orDiscard(c.Stderr), "%s: %v\n", argv[0], err)
			res.ExitCode = code
			return res, nil
		}
	}
	if cmd.ProcessState != nil {
		res.ExitCode, res.Signal = exitStatus(cmd.ProcessState)
	}
	if ctx.Err() != nil {
		return res, fmt.Errorf("run on %s: %w", l.name(), ctx.Err())
	}
	if cause := context.Cause(runCtx); runCtx.Err() != nil && !errors.Is(cause, context.Canceled) {
		return res, fmt.Errorf("run on %s: read stdin: %w", l.name(), cause)
	}
	var ee *exec.ExitError
	switch {
	case err == nil, errors.As(err, &ee):
		return res, nil
	case errors.Is(err, exec.ErrWaitDelay):
		// The command exited; something it left behind held its output open.
		return res, nil
	}
	return res, fmt.Errorf("run on %s: %w", l.name(), err)
}

// feedStdin copies r into the command's stdin pipe and closes it at EOF.
// It runs in its own goroutine rather than as exec's copier, which Wait
// waits for: a command that exits without reading all of a stdin that
// blocks (a pipe fed later, or never) would otherwise hold Run until
// WaitDelay. A failed read stops the command (fail) without closing the
// pipe, so that it never takes the truncated input as complete.
func feedStdin(w io.WriteCloser, r io.Reader, fail context.CancelCauseFunc) {
	tr := &trackingReader{r: r}
	_, _ = io.Copy(w, tr)
	if tr.err != nil {
		fail(tr.err)
		return
	}
	w.Close()
}

func startFailure(err error, dir string) int {
	if dir != "" {
		if st, serr := os.Stat(dir); serr != nil || !st.IsDir() {
			return 1
		}
	}
	switch {
	case errors.Is(err, exec.ErrNotFound), errors.Is(err, fs.ErrNotExist):
		return 127
	case errors.Is(err, fs.ErrPermission):
		return 126
	}
	return 0
}

func exitStatus(ps *os.ProcessState) (int, string) {
	ws, ok := ps.Sys().(syscall.WaitStatus)
	if ok && ws.Signaled() {
		return 128 + int(ws.Signal()), strings.TrimPrefix(unix.SignalName(ws.Signal()), "SIG")
	}
	return ps.ExitCode(), ""
}

// Upload writes r to dst atomically (temporary file in the same directory,
// then rename). With Become it goes through sudo like the SSH transport.
func (l *Local) Upload(ctx context.Context, r io.Reader, dst string, mode fs.FileMode) error {
	if l.Become != BecomeNone {
		return uploadViaRun(ctx, l, l.name(), r, dst, mode)
	}
	if err := l.upload(ctx, r, dst, mode); err != nil {
		return fmt.Errorf("upload %s to %s: %w", dst, l.name(), err)
	}
	return nil
}

func (l *Local) upload(ctx context.Context, r io.Reader, dst string, mode fs.FileMode) error {
	dir, base := filepath.Split(dst)
	if base == "" {
		return fmt.Errorf("destination %q is a directory", dst)
	}
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := io.Copy(f, ctxReader{ctx, r}); err != nil {
		return err
	}
	if err := f.Chmod(mode.Perm()); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	ok = true
	return nil
}

// ReadFile reads path (through sudo when Become is set).
func (l *Local) ReadFile(ctx context.Context, path string) ([]byte, error) {
	if l.Become != BecomeNone {
		return readFileViaRun(ctx, l, l.name(), path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read %s on %s: %w", path, l.name(), err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxReadFile+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("read %s on %s: %w", path, l.name(), err)
	case int64(len(b)) > MaxReadFile:
		return nil, &OutputTooLargeError{Host: l.name(), Command: "read " + path, Max: MaxReadFile}
	}
	return b, nil
}

// Close does nothing; Local holds no resources.
func (l *Local) Close() error { return nil }

// ctxReader stops a copy once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
