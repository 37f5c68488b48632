package worker

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/queue/queuetest"
)

// fixture is a config repository, a real redis-server and a queue on it.
type fixture struct {
	t     testing.TB
	dir   string
	redis *queuetest.RedisServer // nil on Redis Cluster
	url   string
	cfg   *config.Config
	q     *queue.Queue
}

// role settings of the test config.
type roleOpts struct {
	concurrency int
	maxTasks    int
	healthPort  int
	cluster     bool // a 3-node Redis Cluster instead of one redis-server
}

// scripts of the test module "t" (tasks/t/*.sh).
var testScripts = map[string]string{
	// echo: prints its context and parameters, and its stdin.
	"echo.sh": `#!/bin/sh
echo "name=$CL_PARAM_NAME count=$CL_PARAM_COUNT loud=$CL_PARAM_LOUD"
echo "task=$CL_TASK module=$CL_MODULE run=$CL_RUN_ID host=$CL_HOST release=$CL_RELEASE_DIR fixed=$FIXED"
echo "stdin=$(cat)"
echo "to stderr" >&2
`,
	// spawn: two background sleeps and a foreground one, pids in a file.
	"spawn.sh": `#!/bin/sh
sleep 300 & a=$!
sleep 300 & b=$!
echo "$$ $a $b" > "$CL_PARAM_PIDFILE"
echo started
wait
`,
	// slow: sleeps, then appends a line to the marker file.
	"slow.sh": `#!/bin/sh
sleep "$CL_PARAM_SECONDS"
if [ -n "$CL_PARAM_MARKER" ]; then echo "$CL_RUN_ID" >> "$CL_PARAM_MARKER"; fi
echo slept
`,
}

const testModule = `tasks:
  echo:
    params:
      name: {type: string, required: true, pattern: '[a-z ]+'}
      count: {type: int, default: 3}
      loud: {type: bool, default: false}
    env: {FIXED: "fixed value"}
    script: t/echo.sh
  spawn:
    params:
      pidfile: {type: string, required: true}
    script: t/spawn.sh
  slow:
    params:
      seconds: {type: string, default: "1", pattern: '[0-9.]+'}
      marker: {type: string, default: ""}
    script: t/slow.sh
  fails:
    command: ["/bin/sh", "-c", "echo broken >&2; exit 3"]
  "true":
    command: ["/bin/true"]
`

const otherModule = `tasks:
  forbidden:
    command: ["/bin/true"]
`

// newFixture writes the config, starts redis-server and opens a queue.
func newFixture(t testing.TB, ro roleOpts) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir()}
	if ro.cluster {
		f.url = queuetest.StartCluster(t)
	} else {
		f.redis = queuetest.StartRedis(t)
		f.url = f.redis.URL()
	}
	f.writeRepo(ro)
	cfg, _, err := config.LoadValid(config.Options{Path: filepath.Join(f.dir, "cl.yaml")})
	if err != nil {
		t.Fatalf("load test config: %v", err)
	}
	f.cfg = cfg
	f.q = f.openQueue()
	return f
}

func (f *fixture) openQueue() *queue.Queue {
	f.t.Helper()
	q, err := queue.Open(context.Background(), f.url, queue.Namespace{Cluster: "wt"},
		queue.WithLeaseTTL(3*time.Second), queue.WithHeartbeatTTL(3*time.Second), queue.WithPollInterval(20*time.Millisecond))
	if err != nil {
		f.t.Fatalf("open queue: %v", err)
	}
	f.t.Cleanup(func() { q.Close() })
	return q
}

func (f *fixture) writeRepo(ro roleOpts) {
	f.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "cluster:\n  name: wt\nredis:\n  url: %s\n", f.url)
	b.WriteString("hosts:\n  h1:\n    role: app\n    address: 127.0.0.1\n")
	fmt.Fprintf(&b, "workers:\n  app:\n    queue: app_q\n    concurrency: %d\n", max(ro.concurrency, 1))
	if ro.maxTasks > 0 {
		fmt.Fprintf(&b, "    max_tasks_per_child: %d\n", ro.maxTasks)
	}
	b.WriteString("    tasks: [t]\n")
	if ro.healthPort > 0 {
		fmt.Fprintf(&b, "deployment:\n  health_check_url: http://127.0.0.1:%d/health\n", ro.healthPort)
	}
	b.WriteString("schedules:\n  nightly:\n    cron: \"0 1 * * *\"\n    task: slow\n    concurrency: forbid\n    targets:\n      - role: app\n")
	files := map[string]string{"cl.yaml": b.String(), "tasks/t.yaml": testModule, "tasks/other.yaml": otherModule}
	for name, body := range testScripts {
		files["tasks/t/"+name] = body
	}
	for name, body := range files {
		p := filepath.Join(f.dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			f.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			f.t.Fatal(err)
		}
	}
}

// running is a worker started by a test.
type running struct {
	cancel context.CancelFunc
	done   chan error
}

// start runs a worker for h1 until the test ends or stop is called.
func (f *fixture) start(mod func(*Options)) *running {
	f.t.Helper()
	o := Options{Config: f.cfg, Host: "h1", Queue: f.q, ReleaseDir: f.dir, SHA: "abc123", Version: "test",
		HealthAddr: "-", Logger: testLogger(f.t), Grace: 5 * time.Second}
	if mod != nil {
		mod(&o)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- Run(ctx, o) }()
	f.t.Cleanup(func() { r.stop(f.t, 30*time.Second) })
	return r
}

// stop cancels the worker (SIGTERM) and waits for Run to return.
func (r *running) stop(t testing.TB, within time.Duration) error {
	t.Helper()
	r.cancel()
	return r.wait(t, within)
}

// wait waits for Run to return by itself.
func (r *running) wait(t testing.TB, within time.Duration) error {
	t.Helper()
	select {
	case err, ok := <-r.done:
		if ok {
			close(r.done)
		}
		return err
	case <-time.After(within):
		t.Fatalf("worker did not return within %s", within)
		return nil
	}
}

// enqueue puts a run of task (module t unless it has a dot or is built in)
// on h1's host queue.
func (f *fixture) enqueue(task, module string, params map[string]any, mod func(*queue.Run)) string {
	f.t.Helper()
	r := &queue.Run{Task: task, Module: module, Params: params, Target: queue.HostQueue("h1")}
	if mod != nil {
		mod(r)
	}
	id, _, err := f.q.Enqueue(context.Background(), r, "")
	if err != nil {
		f.t.Fatalf("enqueue %s: %v", task, err)
	}
	return id
}

// wait waits for runs to be terminal.
func (f *fixture) wait(within time.Duration, ids ...string) []*queue.Run {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	runs, err := f.q.Wait(ctx, ids...)
	if err != nil {
		for _, id := range ids {
			r, _ := f.q.Get(context.Background(), id)
			f.t.Logf("run %s: %+v", id, r)
		}
		f.t.Fatalf("wait for runs: %v", err)
	}
	return runs
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// state returns a run's current state.
func (f *fixture) state(id string) queue.State {
	r, err := f.q.Get(context.Background(), id)
	if err != nil {
		f.t.Fatalf("get run %s: %v", id, err)
	}
	return r.State
}

// logText returns a run's log as "stream: text" lines.
func (f *fixture) logText(id string) string {
	f.t.Helper()
	lines, _, err := f.q.Logs(context.Background(), id, "", 0)
	if err != nil {
		f.t.Fatalf("logs of %s: %v", id, err)
	}
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "%s: %s\n", l.Stream, l.Text)
	}
	return b.String()
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// readPids reads the pid file written by spawn.sh.
func readPids(t *testing.T, path string) []int {
	t.Helper()
	var pids []int
	waitFor(t, 5*time.Second, "pid file "+path, func() bool {
		b, err := os.ReadFile(path)
		if err != nil || !strings.HasSuffix(string(b), "\n") {
			return false
		}
		pids = nil
		for _, f := range strings.Fields(string(b)) {
			n, err := strconv.Atoi(f)
			if err != nil {
				return false
			}
			pids = append(pids, n)
		}
		return len(pids) == 3
	})
	return pids
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}
