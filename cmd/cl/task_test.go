package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/dispatch"
	"github.com/celeroot/celeroot/queue"
)

// oneLine checks that a command failed with exit 1 and a single line on
// stderr containing want.
func oneLine(t *testing.T, stderr string, code int, want string) {
	t.Helper()
	if code != ExitError || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, want) {
		t.Fatalf("want exit 1 and one line with %q, got %d:\n%s", want, code, stderr)
	}
}

// noRuns checks that nothing was ever enqueued in the fleet's namespace.
func noRuns(t *testing.T, f *fleet) {
	t.Helper()
	qs, err := f.queue(t).Queues(context.Background())
	if err != nil || len(qs) != 0 {
		t.Fatalf("something was enqueued: %v %v", qs, err)
	}
}

func TestTaskRejectedBeforeEnqueue(t *testing.T) {
	t.Parallel()
	f := newRedisFleet(t)
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"hostile package", []string{"task", "install", "nginx; rm -rf /", "--role", "webserver"}, `package name "nginx; rm -rf /" rejected`},
		{"option as package", []string{"task", "remove", "--target", "webserver01", "--", "-y"}, `package name "-y" rejected`},
		{"unknown task", []string{"task", "run", "nosuch", "--role", "webserver"}, `no task "nosuch"`},
		{"module not loaded", []string{"task", "run", "mysql_management.optimize_tables", "--target", "webserver01"}, `module "mysql_management" is not loaded by this role`},
		{"one role lacks it", []string{"task", "run", "backup_databases", "--all"}, "on role webserver"},
		{"bad int", []string{"task", "run", "check_expiry", "--role", "webserver", "--param", "days=soon"}, `"soon" is not a whole number`},
		{"unknown param", []string{"task", "run", "ping", "--role", "webserver", "--param", "x=1"}, `task ping has no param "x"`},
		{"missing param", []string{"task", "run", "echo", "--role", "webserver"}, `needs param "msg"`},
		{"bad param syntax", []string{"task", "run", "ping", "--role", "webserver", "--param", "x"}, "write it as name=value"},
		{"no target", []string{"task", "run", "ping"}, "say which hosts"},
		{"unknown host", []string{"task", "run", "ping", "--target", "web9"}, `no host "web9"`},
		{"any without role", []string{"task", "run", "ping", "--target", "webserver01", "--any"}, "--any puts one run on a role's queue"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, stderr, code := cl(t, f.args(c.args...)...)
			oneLine(t, stderr, code, c.want)
		})
	}
	noRuns(t, f)
}

func TestTaskRunWait(t *testing.T) {
	t.Parallel()
	f := newRedisFleet(t)
	startWorkers(t, f)
	out, stderr, code := cl(t, f.args("task", "run", "ping", "--role", "webserver", "--wait")...)
	if code != 0 || !strings.Contains(out, "webserver01 | pong") || !strings.Contains(out, "webserver02 | pong") ||
		!strings.Contains(out, "2 of 2 runs succeeded") {
		t.Fatalf("run ping --wait: %d\n%s\n%s", code, out, stderr)
	}
	out, stderr, code = cl(t, f.args("task", "run", "fail", "--target", "webserver01", "--wait")...)
	if code != ExitError || !strings.Contains(out, "webserver01 | out") || !strings.Contains(stderr, "webserver01 | boom") ||
		!strings.Contains(out, "0 of 1 run succeeded") || !strings.Contains(out, "failed") {
		t.Fatalf("run fail --wait: %d\n%s\n%s", code, out, stderr)
	}
	out, stderr, code = cl(t, f.args("-o", "json", "task", "run", "echo", "-p", "msg=a,b=c; $(x)", "--role", "webserver", "--any", "--wait")...)
	var res []map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 || len(res) != 1 {
		t.Fatalf("run echo --any --wait -o json: %d %v\n%s\n%s", code, err, out, stderr)
	}
	if r := res[0]; r["state"] != "succeeded" || r["exit_code"] != 0.0 || !strings.HasPrefix(r["host"].(string), "webserver0") ||
		r["target"] != "role:webserver_tasks" {
		t.Fatalf("--any result: %v", r)
	}
	if !strings.Contains(stderr, " | a,b=c; $(x)") {
		t.Fatalf("--any log line (on stderr with -o json) missing:\n%s", stderr)
	}
}

func TestTaskIDsStatusLogs(t *testing.T) {
	t.Parallel()
	f := newRedisFleet(t)
	out, stderr, code := cl(t, f.args("-o", "json", "task", "install", "nginx=1.24.0-1", "--tags", "environment=production")...)
	var subs []submission
	if err := json.Unmarshal([]byte(out), &subs); err != nil || code != 0 || len(subs) != 3 {
		t.Fatalf("install -o json: %d %v\n%s\n%s", code, err, out, stderr)
	}
	if s := subs[2]; s.Host != "dbserver01" || s.Queue != "host:dbserver01" || s.Task != "install" || s.State != queue.StateQueued ||
		s.Params["package"] != "nginx=1.24.0-1" || len(s.ID) != 26 {
		t.Fatalf("submission: %+v", s)
	}
	out, _, code = cl(t, f.args("-o", "json", "task", "status")...)
	var st struct {
		Workers []map[string]any
		Silent  []string `json:"silent_hosts"`
		Queues  []queue.QueueStats
		Running []map[string]any
		Beat    *dispatch.BeatStatus
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || code != 0 || len(st.Silent) != 3 || len(st.Workers) != 0 || st.Running == nil {
		t.Fatalf("status -o json without workers: %d %v\n%s", code, err, out)
	}
	if b := st.Beat; b == nil || b.Leader != nil || b.Beats != 0 || b.LastFires == nil || len(b.LastFires) != 0 {
		t.Errorf("status -o json without a beat: beat = %+v", b)
	}
	// Every configured queue, the unused role queues too, in config order.
	var queues []string
	for _, s := range st.Queues {
		queues = append(queues, s.Queue)
		if strings.HasPrefix(s.Queue, "host:") && s.Waiting != 1 || strings.HasPrefix(s.Queue, "role:") && s.Waiting != 0 {
			t.Errorf("queue %s: %+v", s.Queue, s)
		}
	}
	if got := strings.Join(queues, " "); got != "role:webserver_tasks role:database_tasks host:webserver01 host:webserver02 host:dbserver01" {
		t.Fatalf("status lists queues %s", got)
	}
	if out, _, _ := cl(t, f.args("task", "status")...); !strings.Contains(out, "role:database_tasks") || !strings.Contains(out, "queues read just now") {
		t.Fatalf("status text: every queue and the freshness note:\n%s", out)
	}

	// Queued runs are killed at once (and these must never install anything).
	for _, s := range subs {
		if out, stderr, code := cl(t, f.args("task", "kill", "--task-id", s.ID)...); code != 0 || !strings.Contains(out, "killed") {
			t.Fatalf("kill queued: %d %s %s", code, out, stderr)
		}
	}
	startWorkers(t, f)
	out, _, code = cl(t, f.args("task", "run", "echo", "--param", "msg=hello", "--target", "webserver02")...)
	id := strings.TrimSpace(out)
	if code != 0 || len(id) != 26 {
		t.Fatalf("run without --wait: %d %q", code, out)
	}
	if _, err := f.queue(t).Wait(ctxTimeout(t, 10*time.Second), id); err != nil {
		t.Fatal(err)
	}
	out, _, code = cl(t, f.args("-o", "json", "task", "status", "--task-id", id)...)
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != 0 || r["state"] != "succeeded" || r["exit_code"] != 0.0 ||
		r["worker"] != "webserver02" || r["id"] != id {
		t.Fatalf("status --task-id -o json: %d %v\n%s", code, err, out)
	}
	if out, _, code = cl(t, f.args("task", "status", "--task-id", id)...); code != 0 || !strings.Contains(out, "succeeded") {
		t.Fatalf("status --task-id: %d\n%s", code, out)
	}
	if out, _, code = cl(t, f.args("task", "logs", "--task-id", id)...); code != 0 || out != "hello\n" {
		t.Fatalf("logs: %d %q", code, out)
	}
	out, _, code = cl(t, f.args("-o", "json", "task", "logs", "--task-id", id)...)
	var line jsonLogLine
	first, _, _ := strings.Cut(out, "\n")
	if err := json.Unmarshal([]byte(first), &line); err != nil || code != 0 || line.Text != "hello" || line.Stream != "stdout" {
		t.Fatalf("logs -o json: %d %v %q", code, err, out)
	}
	out, _, code = cl(t, f.args("task", "status")...)
	for _, want := range []string{"webserver02", "dev", "/4 busy", "host:dbserver01", "no task running"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("status: %d, %q missing\n%s", code, want, out)
		}
	}
	_, stderr, code = cl(t, f.args("task", "status", "--task-id", "01NOSUCHRUN0000000000000000")...)
	oneLine(t, stderr, code, "no run 01NOSUCHRUN")
}

func TestTaskKillAndFollow(t *testing.T) {
	t.Parallel()
	f := newRedisFleet(t)
	startWorkers(t, f)
	out, _, code := cl(t, f.args("task", "run", "sleep", "--target", "webserver01")...)
	id := strings.TrimSpace(out)
	if code != 0 {
		t.Fatalf("run sleep: %d", code)
	}
	q := f.queue(t)
	eventually(t, 10*time.Second, "run started", func() bool {
		r, err := q.Get(context.Background(), id)
		return err == nil && r.State == queue.StateRunning
	})
	type result struct {
		out, stderr string
		code        int
	}
	follow := make(chan result, 1)
	go func() {
		o, e, c := cl(t, f.args("task", "logs", "--task-id", id, "--follow")...)
		follow <- result{o, e, c}
	}()
	time.Sleep(300 * time.Millisecond)
	out, stderr, code := cl(t, f.args("task", "kill", "--task-id", id)...)
	if code != 0 || !strings.Contains(out, "killed") {
		t.Fatalf("kill: %d\n%s\n%s", code, out, stderr)
	}
	select {
	case r := <-follow:
		if r.code != ExitError || r.out != "sleeping\n" || !strings.Contains(r.stderr, "ended killed") {
			t.Fatalf("logs --follow of a killed run: %d %q %q", r.code, r.out, r.stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("logs --follow did not end with the run")
	}
	out, _, _ = cl(t, f.args("-o", "json", "task", "status", "--task-id", id)...)
	if !strings.Contains(out, `"state": "killed"`) {
		t.Fatalf("state after kill: %s", out)
	}
	if out, _, code = cl(t, f.args("task", "kill", "--task-id", id)...); code != 0 || !strings.Contains(out, "already killed") {
		t.Fatalf("kill twice: %d %s", code, out)
	}

	out, _, _ = cl(t, f.args("-o", "json", "task", "run", "ping", "--target", "webserver01", "--wait")...)
	var res []runResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res) != 1 {
		t.Fatalf("ping --wait -o json: %v %s", err, out)
	}
	_, stderr, code = cl(t, f.args("task", "kill", "--task-id", res[0].ID)...)
	oneLine(t, stderr, code, "it had already ended succeeded")
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func eventually(t *testing.T, d time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
