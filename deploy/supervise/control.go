package supervise

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"
)

// startWait bounds how long Start waits for the detached supervisor to
// take its lock.
const startWait = 5 * time.Second

// Start runs `self supervise run NAME --state-dir DIR -- ARGV...` detached
// (new session, stdin /dev/null, output to the log) and returns once it
// holds its lock. A supervisor that already runs is left alone.
func Start(o Options, self string) error {
	if err := o.check(); err != nil {
		return err
	}
	if len(o.Argv) == 0 {
		return fmt.Errorf("start %s: no command given (after --)", o.Name)
	}
	if running, err := o.locked(); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("start %s: %w", o.Name, err)
	} else if running {
		return nil
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return fmt.Errorf("start %s: %w", o.Name, err)
	}
	args := append([]string{"supervise", "run", o.Name, "--state-dir", o.Dir, "--"}, o.Argv...)
	cmd, err := Detach(self, args, o.Log())
	if err != nil {
		return fmt.Errorf("start %s: %w", o.Name, err)
	}
	// Poll without a goroutine: the supervisor is meant to outlive us.
	deadline := time.Now().Add(startWait)
	for time.Now().Before(deadline) {
		if running, _ := o.locked(); running {
			_ = cmd.Process.Release()
			return nil
		}
		if how, done := Exited(cmd); done {
			return fmt.Errorf("start %s: the supervisor exited at once (%s); see %s", o.Name, how, o.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Release()
	return fmt.Errorf("start %s: the supervisor did not take its lock within %s; see %s", o.Name, startWait, o.Log())
}

// Restart restarts the child of a running supervisor now (SIGHUP). When
// none runs, or it runs another command than o.Argv (when given), a
// supervisor for o.Argv is started instead.
func Restart(o Options, self string) error {
	st, err := ReadStatus(o.Files)
	if err != nil {
		return fmt.Errorf("restart %s: %w", o.Name, err)
	}
	switch {
	case !st.Running:
		if len(o.Argv) == 0 {
			return fmt.Errorf("restart %s: not running, and no command given to start (after --)", o.Name)
		}
		return Start(o, self)
	case len(o.Argv) > 0 && !slices.Equal(st.Argv, o.Argv):
		if err := Stop(o.Files, o.withDefaults().StopGrace+5*time.Second); err != nil {
			return err
		}
		return Start(o, self)
	}
	return o.signal(syscall.SIGHUP)
}

// signal sends sig to the supervisor, which must hold its lock.
func (f Files) signal(sig syscall.Signal) error {
	pid, err := f.readPID()
	if err != nil {
		return fmt.Errorf("signal %s: %w", f.Name, err)
	}
	if err := CheckProcess(pid, "supervise"); err != nil {
		return fmt.Errorf("signal %s: %w", f.Name, err)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return fmt.Errorf("signal %s (pid %d): %w", f.Name, pid, err)
	}
	return nil
}

// Stop stops a running supervisor and its child and waits up to timeout
// for it to exit (then kills both). Stopping one that does not run is not
// an error.
func Stop(f Files, timeout time.Duration) error {
	st, err := ReadStatus(f)
	if err != nil {
		return fmt.Errorf("stop %s: %w", f.Name, err)
	}
	if !st.Running {
		return nil
	}
	if err := f.signal(syscall.SIGTERM); err != nil {
		return err
	}
	if waitUnlocked(f.Lock(), timeout) {
		return nil
	}
	if st.ChildPID > 0 {
		_ = syscall.Kill(-st.ChildPID, syscall.SIGKILL)
	}
	_ = f.signal(syscall.SIGKILL)
	return fmt.Errorf("stop %s: it did not stop within %s; killed it", f.Name, timeout)
}

// Check GETs url and returns nil for a 2xx answer whose body (its first
// 64 KiB) contains expect, with the status line.
func Check(ctx context.Context, url, expect string) (string, error) {
	return CheckWith(ctx, http.DefaultClient, url, expect)
}

// CheckWith is Check through client (a deploy fetches the URL through the
// host's SSH connection this way, without running a process there).
func CheckWith(ctx context.Context, client *http.Client, url, expect string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", fmt.Errorf("check %s: %w", url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("check %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	line := resp.Status + " " + strings.TrimSpace(string(body[:min(len(body), 512)]))
	switch {
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return line, fmt.Errorf("check %s: %s", url, line)
	case !strings.Contains(string(body), expect):
		return line, fmt.Errorf("check %s: the answer does not contain %q: %s", url, expect, line)
	}
	return line, nil
}

// WaitCheck repeats Check (each try with its own timeout) every 50ms until
// it succeeds or wait has passed; wait 0 means one try.
func WaitCheck(ctx context.Context, url, expect string, timeout, wait time.Duration) (string, error) {
	return WaitCheckWith(ctx, http.DefaultClient, url, expect, timeout, wait)
}

// WaitCheckWith is WaitCheck through client.
func WaitCheckWith(ctx context.Context, client *http.Client, url, expect string, timeout, wait time.Duration) (string, error) {
	deadline := time.Now().Add(wait)
	for {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		line, err := CheckWith(cctx, client, url, expect)
		cancel()
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return line, err
		}
		select {
		case <-ctx.Done():
			return line, err
		case <-time.After(50 * time.Millisecond):
		}
	}
}
