package worker

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestExecute(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		argv     []string
		timeout  time.Duration
		code     int
		timedOut bool
		out      string
		err      string
	}{
		{"exit code", []string{"/bin/sh", "-c", "exit 7"}, 0, 7, false, "", ""},
		{"stdin", []string{"/bin/sh", "-c", "cat"}, 0, 0, false, `{"a":1}`, ""},
		{"signal", []string{"/bin/sh", "-c", "kill -9 $$"}, 0, 137, false, "", ""},
		{"not found", []string{"/nonexistent/program"}, 0, -1, false, "", "start /nonexistent/program"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var out strings.Builder
			start := time.Now()
			o := execute(context.Background(), spec{Argv: c.argv, Stdin: []byte(`{"a":1}`), Stdout: &out, Stderr: &out,
				Timeout: c.timeout, KillGrace: 300 * time.Millisecond})
			if o.ExitCode != c.code || o.TimedOut != c.timedOut || out.String() != c.out {
				t.Errorf("outcome %+v, output %q; want code %d, timed out %v, output %q", o, out.String(), c.code, c.timedOut, c.out)
			}
			if (o.Err == nil) != (c.err == "") || (o.Err != nil && !strings.Contains(o.Err.Error(), c.err)) {
				t.Errorf("err %v, want %q", o.Err, c.err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s", d)
			}
		})
	}
}

// readyWriter closes ready when the output holds "ready\n".
type readyWriter struct {
	mu    sync.Mutex
	b     strings.Builder
	ready chan struct{}
}

func (w *readyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.Write(p)
	if strings.Contains(w.b.String(), "ready\n") && w.ready != nil {
		close(w.ready)
		w.ready = nil
	}
	return len(p), nil
}

// TestExecuteTimeoutIgnoringSIGTERM: a process that ignores SIGTERM is
// killed (SIGKILL, 137) after the grace, and the run counts as timed out.
// The timeout passes only once the shell has installed its trap (it says
// "ready"), so a loaded machine cannot deliver SIGTERM before the trap.
func TestExecuteTimeoutIgnoringSIGTERM(t *testing.T) {
	t.Parallel()
	ready := make(chan struct{})
	out := &readyWriter{ready: ready}
	start := time.Now()
	o := execute(context.Background(), spec{Argv: []string{"/bin/sh", "-c", "trap '' TERM; echo ready; sleep 30"}, Stdout: out, Stderr: out,
		Timeout: time.Hour, KillGrace: 300 * time.Millisecond, timedOut: ready})
	if o.ExitCode != 137 || !o.TimedOut || o.Err != nil || out.b.String() != "ready\n" {
		t.Errorf("outcome %+v, output %q; want code 137, timed out", o, out.b.String())
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s", d)
	}
}

func TestExecuteStoppedByContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	var out strings.Builder
	o := execute(ctx, spec{Argv: []string{"/bin/sh", "-c", "trap 'echo term; exit 5' TERM; while :; do sleep 0.05; done"},
		Stdout: &out, Stderr: &out, KillGrace: 5 * time.Second})
	if !o.Stopped || o.ExitCode != 5 || !strings.Contains(out.String(), "term") {
		t.Errorf("outcome %+v, output %q; want stopped with the trap's exit code 5", o, out.String())
	}
	if o.Duration > 3*time.Second {
		t.Errorf("stopping took %s: SIGKILL grace used although the task exited on SIGTERM", o.Duration)
	}
}
