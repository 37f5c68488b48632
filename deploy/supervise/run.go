package supervise

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Options configure a supervisor.
type Options struct {
	Files
	Argv []string
	// MinBackoff and MaxBackoff bound the wait before restarting a child
	// that exited (1s and 30s when zero).
	MinBackoff, MaxBackoff time.Duration
	// StableAfter: a child that ran at least this long resets the backoff
	// (10s when zero).
	StableAfter time.Duration
	// StopGrace is the time a child gets between SIGTERM and SIGKILL (30s
	// when zero).
	StopGrace time.Duration
}

func (o Options) withDefaults() Options {
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	if o.StableAfter <= 0 {
		o.StableAfter = 10 * time.Second
	}
	if o.StopGrace <= 0 {
		o.StopGrace = 30 * time.Second
	}
	return o
}

// ErrRunning is returned by Run when another supervisor of the same name
// holds the lock.
var ErrRunning = errors.New("already running")

// Run supervises o.Argv in the foreground until ctx ends or SIGTERM/SIGINT
// arrives; SIGHUP restarts the child at once.
func Run(ctx context.Context, o Options) error {
	o = o.withDefaults()
	if err := o.check(); err != nil {
		return err
	}
	if len(o.Argv) == 0 {
		return fmt.Errorf("supervise %s: no command given (after --)", o.Name)
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return fmt.Errorf("supervise %s: %w", o.Name, err)
	}
	lock, err := LockFile(o.Lock())
	if errors.Is(err, ErrLocked) {
		return fmt.Errorf("supervise %s: %w (%s is locked)", o.Name, ErrRunning, o.Lock())
	}
	if err != nil {
		return fmt.Errorf("supervise %s: %w", o.Name, err)
	}
	defer lock.Close()
	log, err := openLog(o.Log())
	if err != nil {
		return fmt.Errorf("supervise %s: %w", o.Name, err)
	}
	defer log.Close()
	if err := writeAtomic(o.PID(), []byte(strconv.Itoa(os.Getpid())+"\n")); err != nil {
		return fmt.Errorf("supervise %s: %w", o.Name, err)
	}
	defer os.Remove(o.PID())
	// The argv, one per line, lets a deploy's shell tell whether a SIGHUP
	// restarts the right command.
	argv := strings.Join(o.Argv, "\n") + "\n"
	if err := writeAtomic(o.Files.path(".argv"), []byte(argv)); err != nil {
		return fmt.Errorf("supervise %s: %w", o.Name, err)
	}
	s := &supervisor{o: o, log: log, st: State{Name: o.Name, PID: os.Getpid(), Argv: o.Argv, Started: time.Now()}}
	return s.loop(ctx)
}

type supervisor struct {
	o   Options
	log *rotatingLog
	st  State
}

func (s *supervisor) logf(format string, a ...any) {
	fmt.Fprintf(s.log, "%s cl supervise: %s\n", time.Now().Format("2006-01-02T15:04:05.000Z07:00"), fmt.Sprintf(format, a...))
}

func (s *supervisor) save() {
	if err := s.o.writeState(s.st); err != nil {
		s.logf("write state: %v", err)
	}
}

// loop starts the child, waits for it or a signal, and restarts it.
func (s *supervisor) loop(ctx context.Context) error {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	backoff := s.o.MinBackoff
	s.logf("supervising %q (pid %d)", s.o.Argv, os.Getpid())
	for {
		child, exited := s.start()
		restartNow := false
		select {
		case err := <-exited:
			s.exited(child, err, &backoff)
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				s.logf("restart requested")
				s.stop(child, exited)
				backoff, restartNow = s.o.MinBackoff, true
				s.st.Restarts++
				break
			}
			s.logf("stopping on %v", sig)
			s.stop(child, exited)
			s.save()
			return nil
		case <-ctx.Done():
			s.stop(child, exited)
			s.save()
			return nil
		}
		if restartNow {
			continue
		}
		if stop := s.wait(ctx, sigs, &backoff); stop {
			s.save()
			return nil
		}
		s.st.Restarts++
	}
}

// start starts the child; a child that cannot start counts as exited.
func (s *supervisor) start() (*exec.Cmd, chan error) {
	exited := make(chan error, 1)
	cmd := exec.Command(s.o.Argv[0], s.o.Argv[1:]...)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	s.st.ChildStarted, s.st.NextStart = time.Now(), time.Time{}
	if err := cmd.Start(); err != nil {
		exited <- err
		s.st.ChildPID = 0
		return nil, exited
	}
	s.st.ChildPID = cmd.Process.Pid
	s.save()
	go func() { exited <- cmd.Wait() }()
	return cmd, exited
}

func (s *supervisor) exited(child *exec.Cmd, err error, backoff *time.Duration) {
	ran := time.Since(s.st.ChildStarted)
	s.st.ChildPID = 0
	s.st.LastExit = describeExit(child, err)
	if ran >= s.o.StableAfter {
		*backoff = s.o.MinBackoff
	}
	s.logf("child exited after %s: %s; restarting in %s", ran.Round(time.Millisecond), s.st.LastExit, *backoff)
}

// wait sleeps the backoff; SIGHUP cuts it short, SIGTERM/SIGINT or ctx end
// the supervisor (stop = true).
func (s *supervisor) wait(ctx context.Context, sigs chan os.Signal, backoff *time.Duration) (stop bool) {
	s.st.NextStart = time.Now().Add(*backoff)
	s.save()
	t := time.NewTimer(*backoff)
	defer t.Stop()
	next := min(*backoff*2, s.o.MaxBackoff)
	for {
		select {
		case <-t.C:
			*backoff = next
			return false
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				s.logf("restart requested")
				*backoff = s.o.MinBackoff
				return false
			}
			s.logf("stopping on %v", sig)
			return true
		case <-ctx.Done():
			return true
		}
	}
}

// stop ends the child's process group: SIGTERM, then SIGKILL after the
// grace period.
func (s *supervisor) stop(child *exec.Cmd, exited chan error) {
	if child == nil {
		return
	}
	pgid := child.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case err := <-exited:
		s.st.LastExit = describeExit(child, err)
	case <-time.After(s.o.StopGrace):
		s.logf("child did not stop within %s: killing it", s.o.StopGrace)
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		s.st.LastExit = describeExit(child, <-exited)
	}
	s.st.ChildPID = 0
}

func describeExit(child *exec.Cmd, err error) string {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return "exit status 0"
	case errors.As(err, &ee):
		return ee.Error()
	case child == nil:
		return "could not start: " + err.Error()
	}
	return err.Error()
}
