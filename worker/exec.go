package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/celeroot/celeroot/secrets"
)

// spec is one subprocess to run.
type spec struct {
	Argv           []string
	Dir            string
	Env            []string
	Stdin          []byte
	Stdout, Stderr io.Writer
	Timeout        time.Duration   // 0: none
	KillGrace      time.Duration   // SIGTERM → SIGKILL
	Mask           *secrets.Masker // secret values to hide in the output (runSpec); nil: none
	// timedOut, when set, stands for the Timeout's timer: the timeout
	// passes when it delivers (tests make it wait for the process to be
	// ready, so that a loaded machine cannot reorder the two).
	timedOut <-chan struct{}
}

// outcome is how a subprocess ended.
type outcome struct {
	ExitCode int // the exit status; 128+N when killed by signal N; -1 when it did not start
	Duration time.Duration
	TimedOut bool  // stopped by the timeout
	Stopped  bool  // stopped because ctx ended
	Err      error // it could not be started
}

func (o outcome) summary() string {
	switch {
	case o.Err != nil:
		return fmt.Sprintf("not started: %v", o.Err)
	case o.TimedOut:
		return fmt.Sprintf("timed out: exit code %d after %s", o.ExitCode, o.Duration.Round(time.Millisecond))
	case o.Stopped:
		return fmt.Sprintf("stopped: exit code %d after %s", o.ExitCode, o.Duration.Round(time.Millisecond))
	}
	return fmt.Sprintf("exit code %d after %s", o.ExitCode, o.Duration.Round(time.Millisecond))
}

// waitDelay bounds how long output is still copied after the process
// exited, for descendants that keep its stdout open.
const waitDelay = 2 * time.Second

// execute runs s in its own process group and waits for it. When ctx ends
// or the timeout passes, the whole group gets SIGTERM and, after KillGrace,
// SIGKILL. The process gets SIGKILL if the worker dies (Pdeathsig), so a
// crashed worker does not leave its tasks' main processes running.
func execute(ctx context.Context, s spec) outcome {
	if len(s.Argv) == 0 {
		return outcome{ExitCode: refusedExit, Err: errors.New("empty command")}
	}
	cmd := exec.Command(s.Argv[0], s.Argv[1:]...)
	cmd.Dir, cmd.Env = s.Dir, s.Env
	cmd.Stdin = bytes.NewReader(s.Stdin)
	cmd.Stdout, cmd.Stderr = s.Stdout, s.Stderr
	cmd.SysProcAttr = taskProcAttr()
	cmd.WaitDelay = waitDelay
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return outcome{ExitCode: refusedExit, Err: fmt.Errorf("start %s: %w", s.Argv[0], err)}
	}
	pgid := cmd.Process.Pid
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()

	var timeout <-chan time.Time
	if s.Timeout > 0 && s.timedOut == nil {
		t := time.NewTimer(s.Timeout)
		defer t.Stop()
		timeout = t.C
	}
	var o outcome
	select {
	case <-done:
	case <-s.timedOut:
		o.TimedOut = true
		stopGroup(pgid, done, s.KillGrace)
	case <-timeout:
		o.TimedOut = true
		stopGroup(pgid, done, s.KillGrace)
	case <-ctx.Done():
		o.Stopped = true
		stopGroup(pgid, done, s.KillGrace)
	}
	o.Duration = time.Since(start)
	o.ExitCode = exitStatus(cmd.ProcessState)
	return o
}

// stopGroup sends SIGTERM to process group pgid, waits until its leader has
// exited (done) and the group is empty, and sends SIGKILL to whatever is
// left after grace.
func stopGroup(pgid int, done <-chan struct{}, grace time.Duration) {
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	exited := false
	for {
		select {
		case <-done:
			exited, done = true, nil
		case <-poll.C:
		case <-deadline.C:
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			if !exited {
				<-done
			}
			return
		}
		if exited && groupGone(pgid) {
			return
		}
	}
}

// groupGone reports whether no live process is left in group pgid.
// Zombies do not count: orphans wait for init to reap them, which can take
// a while (or forever, under an init that does not reap).
func groupGone(pgid int) bool {
	if errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH) {
		return true
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	for _, e := range ents {
		if e.Name()[0] < '1' || e.Name()[0] > '9' {
			continue
		}
		if pg, state, ok := procGroup(e.Name()); ok && pg == pgid && state != 'Z' {
			return false
		}
	}
	return true
}

// procGroup reads the process group and state of /proc/<pid>.
func procGroup(pid string) (pgrp int, state byte, ok bool) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// pid (comm) state ppid pgrp ...; comm may contain spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 3 {
		return 0, 0, false
	}
	pgrp, err = strconv.Atoi(f[2])
	return pgrp, f[0][0], err == nil
}

// exitStatus is the exit code, or 128+N for a process killed by signal N
// (as shells report it).
func exitStatus(ps *os.ProcessState) int {
	if ps == nil {
		return refusedExit
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}
