package e2e

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/celeroot/celeroot/queue"
)

// Fault tests of the task queue with real `cl worker` processes on this
// machine and a real redis-server: workers SIGKILLed mid-task over and over
// while runs flow on host and role queues, and redis-server killed and
// restarted under load. Each run's task appends its run id to a file after
// its work, so side effects are counted; each worker's log says which runs
// it recorded as succeeded, so recorded outcomes are counted too.
// CL_E2E_LONG=1 makes the runs longer (a soak).

// qkModule: "mark" sleeps a little, then appends its run id to $MARKS.
const qkModule = `tasks:
  mark:
    command: ["/bin/sh", "-c", "sleep 0.05; echo \"$CL_RUN_ID\" >> \"$MARKS\""]
    timeout: 1m
`

// qkFleet is a cl.yaml with hosts h1..hN of one role, a redis-server and
// the worker processes.
type qkFleet struct {
	t       *testing.T
	dir     string
	cfg     string
	marks   string
	redis   *qkRedis
	q       *queue.Queue
	workers map[string]*qkWorker
	hosts   []string
}

func newQKFleet(t *testing.T, hosts int, persist bool) *qkFleet {
	t.Helper()
	CL(t)
	f := &qkFleet{t: t, dir: t.TempDir(), workers: map[string]*qkWorker{}}
	f.redis = startQKRedis(t, persist)
	f.marks = filepath.Join(f.dir, "marks")
	var b strings.Builder
	fmt.Fprintf(&b, "cluster:\n  name: e2equeue\nredis:\n  url: redis://%s/0\nhosts:\n", f.redis.addr())
	for i := 1; i <= hosts; i++ {
		h := fmt.Sprintf("h%d", i)
		f.hosts = append(f.hosts, h)
		fmt.Fprintf(&b, "  %s:\n    role: app\n    address: 127.0.0.%d\n", h, i) // never contacted
	}
	b.WriteString("workers:\n  app:\n    queue: app_q\n    concurrency: 4\n    tasks: [e2e]\n")
	must(t, os.MkdirAll(filepath.Join(f.dir, "tasks"), 0o755))
	must(t, os.WriteFile(filepath.Join(f.dir, "tasks", "e2e.yaml"), []byte(qkModule), 0o644))
	f.cfg = filepath.Join(f.dir, "cl.yaml")
	must(t, os.WriteFile(f.cfg, []byte(b.String()), 0o644))
	q, err := queue.Open(context.Background(), "redis://"+f.redis.addr()+"/0", queue.Namespace{Cluster: "e2equeue"},
		queue.WithOpTimeout(2*time.Second))
	must(t, err)
	t.Cleanup(func() { q.Close() })
	f.q = q
	return f
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// startAll starts every host's worker and waits for their heartbeats.
func (f *qkFleet) startAll() {
	f.t.Helper()
	for _, h := range f.hosts {
		f.start(h)
	}
	deadline := time.Now().Add(15 * time.Second)
	for _, h := range f.hosts {
		for {
			if _, ok, _ := f.q.Worker(context.Background(), h); ok {
				break
			}
			if time.Now().After(deadline) {
				b, _ := os.ReadFile(filepath.Join(f.dir, h+".log"))
				f.t.Fatalf("worker %s sent no heartbeat within 15s:\n%s", h, b)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// qkWorker is one `cl worker` process.
type qkWorker struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// start starts (or restarts) host's worker, its log appended to
// <dir>/<host>.log.
func (f *qkFleet) start(host string) {
	f.t.Helper()
	log, err := os.OpenFile(filepath.Join(f.dir, host+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	must(f.t, err)
	cmd := exec.Command(CL(f.t), "-c", f.cfg, "--log-level", "info", "worker", "--host", host,
		"--health-addr", "-", "--lease", "2s")
	cmd.Env = append(os.Environ(), "MARKS="+f.marks)
	cmd.Stdout, cmd.Stderr = log, log
	must(f.t, cmd.Start())
	log.Close()
	w := &qkWorker{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(w.done) }()
	f.workers[host] = w
	f.t.Cleanup(func() { w.signal(syscall.SIGKILL) })
}

func (w *qkWorker) signal(s syscall.Signal) {
	select {
	case <-w.done:
	default:
		_ = w.cmd.Process.Signal(s)
		<-w.done
	}
}

// enqueue puts n mark runs on targets in turn, with idempotency keys
// "<prefix>-<i>" (retried through Redis outages), and returns their ids.
func (f *qkFleet) enqueue(ctx context.Context, prefix string, n int, targets []string, pause time.Duration) []string {
	ids := make([]string, 0, n)
	for i := range n {
		r := &queue.Run{Task: "mark", Module: "e2e", Target: targets[i%len(targets)], Timeout: time.Minute}
		for {
			id, _, err := f.q.Enqueue(ctx, r, fmt.Sprintf("%s-%d", prefix, i))
			if err == nil {
				ids = append(ids, id)
				break
			}
			if ctx.Err() != nil {
				f.t.Fatalf("enqueue %s-%d: %v", prefix, i, err)
			}
			r.ID = "" // a fresh id; the key dedupes a first try that did land
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(pause)
	}
	return ids
}

// waitAll waits until every run is terminal (retrying through outages).
func (f *qkFleet) waitAll(ctx context.Context, ids []string) []*queue.Run {
	f.t.Helper()
	for {
		runs, err := f.q.Wait(ctx, ids...)
		if err == nil {
			return runs
		}
		if ctx.Err() != nil {
			f.t.Fatalf("wait for %d runs: %v; states: %v", len(ids), err, f.states(ids))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// states counts the runs per state (and lists a few unfinished ones), for
// failure messages.
func (f *qkFleet) states(ids []string) string {
	count := map[queue.State]int{}
	var open []string
	for _, id := range ids {
		r, err := f.q.Get(context.Background(), id)
		if err != nil {
			count["error"]++
			open = append(open, err.Error())
			continue
		}
		count[r.State]++
		if !r.State.Terminal() && len(open) < 5 {
			open = append(open, fmt.Sprintf("%s %s on %s worker %s deliveries %d", r.ID, r.State, r.Target, r.Worker, r.Deliveries))
		}
	}
	var logs strings.Builder
	for _, h := range f.hosts {
		b, _ := os.ReadFile(filepath.Join(f.dir, h+".log"))
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		fmt.Fprintf(&logs, "\n%s.log (last lines):\n%s", h, strings.Join(lines[max(len(lines)-8, 0):], "\n"))
	}
	return fmt.Sprintf("%v; unfinished: %s%s", count, strings.Join(open, "; "), logs.String())
}

// check asserts: every run succeeded, was recorded succeeded by at most one
// worker, and left its side effect at least once. It returns the number of
// runs whose side effect happened twice or more (a task killed after its
// work but before its result was recorded runs again: at least once) and of
// runs whose "run finished" line is missing (a worker killed between
// recording the result and logging it).
func (f *qkFleet) check(runs []*queue.Run) (dupEffects, unlogged int) {
	f.t.Helper()
	marks := countLines(f.t, f.marks)
	recorded := map[string]int{}
	for _, h := range f.hosts {
		for id, n := range succeededIn(f.t, filepath.Join(f.dir, h+".log")) {
			recorded[id] += n
		}
	}
	for _, r := range runs {
		switch {
		case r.State != queue.StateSucceeded:
			f.t.Errorf("run %s on %s: %s (%s)", r.ID, r.Target, r.State, r.Reason)
		case recorded[r.ID] > 1:
			f.t.Errorf("run %s on %s recorded succeeded %d times by the workers", r.ID, r.Target, recorded[r.ID])
		case marks[r.ID] == 0:
			f.t.Errorf("run %s on %s succeeded but its task left no mark", r.ID, r.Target)
		case marks[r.ID] > 1:
			dupEffects++
		}
		if recorded[r.ID] == 0 {
			unlogged++
		}
	}
	return dupEffects, unlogged
}

func countLines(t *testing.T, path string) map[string]int {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err)
	out := map[string]int{}
	for _, l := range strings.Fields(string(b)) {
		out[l]++
	}
	return out
}

// succeededIn counts the "run finished … state=succeeded" lines per run id
// in a worker log.
func succeededIn(t *testing.T, path string) map[string]int {
	t.Helper()
	fh, err := os.Open(path)
	must(t, err)
	defer fh.Close()
	out := map[string]int{}
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		l := sc.Text()
		if !strings.Contains(l, `msg="run finished"`) || !strings.Contains(l, " state=succeeded") {
			continue
		}
		if _, rest, ok := strings.Cut(l, " run="); ok {
			id, _, _ := strings.Cut(rest, " ")
			out[id]++
		}
	}
	return out
}

// long says whether the soak variants run (CL_E2E_LONG=1).
func long() bool { return os.Getenv("CL_E2E_LONG") == "1" }

// TestQueueWorkersKilledMidTask: 1,200 runs (half on the hosts' queues,
// half on the role queue) flow through three `cl worker` processes, one of
// which is SIGKILLed mid-task every ~400 ms and restarted at once, as its
// supervisor would. (At 300 ms a host-queue run was now and then started 5
// times, each on a worker killed before it finished, and went dead: that is
// the max-deliveries rule working, not a lost run, but it made the test
// flaky on a busy machine.) Every run must end succeeded, recorded exactly once,
// with its side effect done.
func TestQueueWorkersKilledMidTask(t *testing.T) {
	n, every := 1200, 400*time.Millisecond
	if long() {
		n, every = 10000, 400*time.Millisecond
	}
	f := newQKFleet(t, 3, false)
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Second+time.Duration(n/100)*time.Second)
	defer cancel()
	f.startAll()
	targets := []string{queue.RoleQueue("app_q")}
	for _, h := range f.hosts {
		targets = append(targets, queue.RoleQueue("app_q"), queue.HostQueue(h))
	}
	targets = targets[1:] // role, h1, role, h2, role, h3: half and half

	stopKills := make(chan struct{})
	kills := make(chan int, 1)
	go func() {
		k := 0
		defer func() { kills <- k }()
		for {
			select {
			case <-stopKills:
				return
			case <-time.After(every):
			}
			h := f.hosts[rand.IntN(len(f.hosts))]
			f.workers[h].signal(syscall.SIGKILL)
			k++
			f.start(h)
		}
	}()
	ids := f.enqueue(ctx, "kill", n, targets, 0)
	runs := f.waitAllOrReport(ctx, ids, stopKills)
	k := <-kills
	dups, unlogged := f.check(runs)
	t.Logf("%d runs, %d SIGKILLs, %d runs whose side effect happened twice (killed after the work, before the result), %d results recorded by a worker killed before it logged them",
		n, k, dups, unlogged)
	if k < 5 {
		t.Errorf("only %d kills happened: the test did not test much", k)
	}
	if unlogged > k {
		t.Errorf("%d runs succeeded with no worker logging it, more than the %d kills explain", unlogged, k)
	}
}

// waitAllOrReport waits for the runs, then stops the killer.
func (f *qkFleet) waitAllOrReport(ctx context.Context, ids []string, stop chan struct{}) []*queue.Run {
	f.t.Helper()
	defer close(stop)
	return f.waitAll(ctx, ids)
}

// TestQueueRedisRestartedUnderLoad: redis-server (AOF, fsync always) is
// SIGKILLed and restarted twice while two workers run a stream of runs; the
// workers reconnect and carry on, and every run completes exactly once.
func TestQueueRedisRestartedUnderLoad(t *testing.T) {
	n, restarts := 600, 2
	if long() {
		n, restarts = 3000, 6
	}
	f := newQKFleet(t, 2, true)
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Second)
	defer cancel()
	f.startAll()
	targets := []string{queue.HostQueue("h1"), queue.RoleQueue("app_q"), queue.HostQueue("h2")}
	done := make(chan []string, 1)
	go func() { done <- f.enqueue(ctx, "restart", n, targets, 2*time.Millisecond) }()
	for range restarts {
		time.Sleep(time.Second)
		f.redis.restart(t, 500*time.Millisecond)
	}
	ids := <-done
	runs := f.waitAll(ctx, ids)
	dups, unlogged := f.check(runs)
	t.Logf("%d runs, %d Redis restarts, %d runs whose side effect happened twice", n, restarts, dups)
	if unlogged > 0 {
		t.Errorf("%d runs succeeded with no worker logging it", unlogged)
	}
	for _, h := range f.hosts {
		select {
		case <-f.workers[h].done:
			t.Errorf("worker %s exited during the Redis restarts (see %s.log)", h, h)
		default:
		}
	}
}

// qkRedis is a redis-server that can be killed and restarted on its port;
// with persist, every write is fsynced to an append-only file first.
type qkRedis struct {
	port int
	dir  string
	args []string
	cmd  *exec.Cmd
}

func startQKRedis(t *testing.T, persist bool) *qkRedis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not installed (apt-get install redis-server)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	r := &qkRedis{port: l.Addr().(*net.TCPAddr).Port, dir: t.TempDir()}
	l.Close()
	r.args = []string{"--bind", "127.0.0.1", "--port", strconv.Itoa(r.port), "--dir", r.dir, "--save", ""}
	if persist {
		r.args = append(r.args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		r.args = append(r.args, "--appendonly", "no")
	}
	r.start(t)
	t.Cleanup(r.kill)
	return r
}

func (r *qkRedis) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)) }

func (r *qkRedis) start(t *testing.T) {
	t.Helper()
	r.cmd = exec.Command("redis-server", r.args...)
	must(t, r.cmd.Start())
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", r.addr(), 100*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s did not start: %v", r.addr(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *qkRedis) kill() {
	if r.cmd != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

// restart SIGKILLs the server and starts it again after down.
func (r *qkRedis) restart(t *testing.T, down time.Duration) {
	t.Helper()
	r.kill()
	time.Sleep(down)
	r.start(t)
}
