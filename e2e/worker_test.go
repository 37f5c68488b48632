package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/celeroot/celeroot/e2e/testhost"
	"github.com/celeroot/celeroot/queue"
)

// wkSHA is the release the test installs on the host.
const wkSHA = "5e1f0c0ffee"

// wkModule is the task module of the test release.
const wkModule = `tasks:
  hello:
    params:
      who: {type: string, required: true, pattern: '[a-z0-9]+'}
    script: e2e/hello.sh
  long:
    params:
      marker: {type: string, required: true}
    script: e2e/long.sh
`

var wkScripts = map[string]string{
	"hello.sh": "#!/bin/sh\necho \"hello $CL_PARAM_WHO from $CL_HOST in $(pwd) as $(hostname), stdin $(cat)\"\n",
	// long: a task that outlives the first worker; it records each completion.
	"long.sh": "#!/bin/sh\necho started\nsleep 3\necho \"$CL_RUN_ID\" >> \"$CL_PARAM_MARKER\"\necho done\n",
}

// wkInstall lays out a release as deploys do (<target>/releases/<sha> and
// current → it) inside host h: the built cl, cl.yaml and tasks/.
func wkInstall(t *testing.T, h *testhost.Host, redisAddr string) {
	t.Helper()
	rel := "/opt/celeroot/releases/" + wkSHA
	cfg := fmt.Sprintf(`cluster:
  name: e2eworker
redis:
  url: redis://%s/0
hosts:
  h1:
    role: app
    address: %s
workers:
  app:
    queue: app_q
    concurrency: 2
    tasks: [e2e]
deployment:
  health_check_url: http://127.0.0.1:8000/health
`, redisAddr, h.Addr)
	files := map[string]string{"cl.yaml": cfg, "tasks/e2e.yaml": wkModule}
	for name, body := range wkScripts {
		files["tasks/e2e/"+name] = body
	}
	bin, err := os.ReadFile(CL(t))
	if err != nil {
		t.Fatal(err)
	}
	files["bin/cl"] = string(bin)
	for name, body := range files {
		p := h.Path(filepath.Join(rel, name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(rel, h.Path("/opt/celeroot/current")); err != nil {
		t.Fatal(err)
	}
}

// wkWorker is `cl worker --host h1` running inside the test host.
type wkWorker struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when it exited
	log  string
}

// wkStart starts the worker through current/bin/cl, as the unit does; no
// -c: it must find the release's cl.yaml itself.
func wkStart(t *testing.T, h *testhost.Host, log string) *wkWorker {
	t.Helper()
	out, err := os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := h.Command(context.Background(), "/opt/celeroot/current/bin/cl", "--log-level", "debug", "worker", "--host", "h1")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start cl worker in %s: %v", h.Name, err)
	}
	w := &wkWorker{cmd: cmd, done: make(chan struct{}), log: log}
	go func() { _ = cmd.Wait(); close(w.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-w.done
		if t.Failed() {
			b, _ := os.ReadFile(log)
			t.Logf("worker log:\n%s", b)
		}
	})
	return w
}

// wkHeartbeat waits for a heartbeat of h1 from a process other than notPID.
func wkHeartbeat(t *testing.T, q *queue.Queue, notPID int) queue.Heartbeat {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		hb, ok, err := q.Worker(context.Background(), "h1")
		if err == nil && ok && hb.PID != notPID {
			return hb
		}
		if time.Now().After(deadline) {
			t.Fatalf("no heartbeat of h1 (other than pid %d): %v", notPID, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func wkEnqueue(t *testing.T, q *queue.Queue, task, module string, params map[string]any) string {
	t.Helper()
	id, _, err := q.Enqueue(context.Background(), &queue.Run{Task: task, Module: module, Params: params,
		Target: queue.HostQueue("h1"), Timeout: time.Minute}, "")
	if err != nil {
		t.Fatalf("enqueue %s: %v", task, err)
	}
	return id
}

func wkWait(t *testing.T, q *queue.Queue, within time.Duration, ids ...string) []*queue.Run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	runs, err := q.Wait(ctx, ids...)
	if err != nil {
		t.Fatalf("wait for %v: %v", ids, err)
	}
	return runs
}

func wkLog(t *testing.T, q *queue.Queue, id string) string {
	t.Helper()
	lines, _, err := q.Logs(context.Background(), id, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "%s: %s\n", l.Stream, l.Text)
	}
	return b.String()
}

// TestWorkerOnTestHost runs `cl worker` inside a test host against a
// redis-server on the fleet bridge: built-in and script tasks, heartbeat,
// health endpoint, then a SIGKILL mid-task and a restart that replays the
// run, which succeeds exactly once.
func TestWorkerOnTestHost(t *testing.T) {
	f := testhost.New(t, 1)
	h := f.Hosts[0]
	addr := StartRedis(t, f.BridgeIP())
	wkInstall(t, h, addr)
	q, err := queue.Open(context.Background(), "redis://"+addr+"/0", queue.Namespace{Cluster: "e2eworker"})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	logs := t.TempDir()

	begin := time.Now()
	w1 := wkStart(t, h, filepath.Join(logs, "worker1.log"))
	hb := wkHeartbeat(t, q, 0)
	t.Logf("first heartbeat after %s: %+v", time.Since(begin), hb)
	if hb.SHA != wkSHA || hb.Role != "app" || hb.Slots != 2 {
		t.Errorf("heartbeat %+v: want sha %s (from the release directory), role app, 2 slots", hb, wkSHA)
	}

	ping := wkEnqueue(t, q, "ping", "builtin", nil)
	hello := wkEnqueue(t, q, "hello", "e2e", map[string]any{"who": "e2e"})
	for _, r := range wkWait(t, q, 15*time.Second, ping, hello) {
		if r.State != queue.StateSucceeded || r.Worker != "h1" {
			t.Errorf("%s: %s %q on %q, want succeeded on h1", r.Task, r.State, r.Reason, r.Worker)
		}
	}
	want := fmt.Sprintf(`stdout: hello e2e from h1 in /opt/celeroot/releases/%s as %s, stdin {"who":"e2e"}`, wkSHA, h.Name)
	if log := wkLog(t, q, hello); !strings.Contains(log, want) {
		t.Errorf("hello log lacks %q:\n%s", want, log)
	}
	if log := wkLog(t, q, ping); !strings.Contains(log, "stdout: pong") {
		t.Errorf("ping log:\n%s", log)
	}
	out, err := h.Exec(context.Background(), "/opt/celeroot/current/bin/cl", "supervise", "check", "http://127.0.0.1:8000/health")
	if err != nil || !strings.Contains(string(out), "200") {
		t.Errorf("health endpoint inside the host: %v %s", err, out)
	}

	// SIGKILL the worker while a long task runs, then start a new one.
	marker := "/var/lib/celeroot/long.marker"
	long := wkEnqueue(t, q, "long", "e2e", map[string]any{"marker": marker})
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(wkLog(t, q, long), "stdout: started") {
		if time.Now().After(deadline) {
			t.Fatal("the long task did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := syscall.Kill(hb.PID, syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL worker pid %d: %v", hb.PID, err)
	}
	<-w1.done
	killedAt := time.Now()
	wkStart(t, h, filepath.Join(logs, "worker2.log"))
	hb2 := wkHeartbeat(t, q, hb.PID)
	r := wkWait(t, q, 20*time.Second, long)[0]
	t.Logf("replayed run finished %s after the SIGKILL: %s, deliveries %d", time.Since(killedAt), r.State, r.Deliveries)
	if r.State != queue.StateSucceeded || r.Deliveries != 2 || r.Worker != "h1" {
		t.Errorf("long run after the SIGKILL: %s %q, deliveries %d; want succeeded after 2 deliveries", r.State, r.Reason, r.Deliveries)
	}
	b, err := os.ReadFile(h.Path(marker))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(string(b)); len(got) != 1 || got[0] != long {
		t.Errorf("marker %q: the long task completed %d times, want exactly once", b, len(got))
	}
	if hb2.SHA != wkSHA {
		t.Errorf("heartbeat after restart: %+v", hb2)
	}
}
