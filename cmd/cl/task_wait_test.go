package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// Issue 15 item 11: --wait must not hang on a host without a live worker.
func TestTaskWaitHostWithoutWorker(t *testing.T) {
	t.Parallel()
	f := newRedisFleet(t)
	startWorkers(t, f, "webserver01") // webserver02 has no worker
	start := time.Now()
	out, stderr, code := cl(t, f.args("task", "run", "ping", "--role", "webserver", "--wait")...)
	if code != ExitError || !strings.Contains(stderr, "no live worker (no heartbeat) on webserver02: 1 run stays queued") ||
		!strings.Contains(out, "webserver01 | pong") || !strings.Contains(out, "1 of 2 runs succeeded") || !strings.Contains(out, "queued") {
		t.Fatalf("run ping --wait with a silent host: %d\n%s\n%s", code, out, stderr)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("--wait took %v: it waited for the host without a worker", d)
	}
	// Issue 15 item 16: the heartbeat counts the finished run within a
	// second or so, not at the next periodic heartbeat (10 s).
	q := f.queue(t)
	for deadline := time.Now().Add(2500 * time.Millisecond); ; time.Sleep(100 * time.Millisecond) {
		ws, err := q.Workers(context.Background())
		if err == nil && len(ws) == 1 && ws[0].Processed == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("heartbeat does not count the finished run yet: %+v %v", ws, err)
		}
	}
	// --any on a role without a live worker is named at once too.
	_, stderr, code = cl(t, f.args("task", "run", "backup_databases", "--role", "database", "--any", "--wait")...)
	if code != ExitError || !strings.Contains(stderr, "no live worker (no heartbeat) on role:database_tasks") {
		t.Fatalf("--any --wait on a role without workers: %d\n%s", code, stderr)
	}
}

func TestTaskWaitTimeoutAndInterrupt(t *testing.T) {
	t.Parallel()
	f := newRedisFleet(t)
	startWorkers(t, f)
	out, stderr, code := cl(t, f.args("task", "run", "sleep", "--target", "webserver01", "--wait", "--timeout", "1s")...)
	if code != ExitError || !strings.Contains(stderr, "timed out after 1s: 1 run still pending: ") || !strings.Contains(stderr, " (webserver01); they go on") {
		t.Fatalf("--timeout: %d\n%s\n%s", code, out, stderr)
	}

	// Ctrl-C: the root context ends; the pending ids are printed, not "context canceled".
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(time.Second, cancel)
	var outb, errb bytes.Buffer
	code = runContext(ctx, f.args("task", "run", "sleep", "--target", "webserver02", "--wait"), strings.NewReader(""), &outb, &errb)
	if code != ExitInterrupted || !strings.Contains(errb.String(), "interrupted: 1 run still pending: ") ||
		!strings.Contains(errb.String(), " (webserver02)") || strings.Contains(errb.String(), "context canceled") {
		t.Fatalf("Ctrl-C during --wait: %d\n%s\n%s", code, outb.String(), errb.String())
	}
}
