// Command queuebench measures celeroot's task queue for bench/queue/run.sh:
// enqueue rate, end-to-end throughput of the built-in no-op task (ping) and
// of a subprocess task (/bin/true), with a worker in a separate process
// (package worker, the code of `cl worker`) against one Redis.
//
//	queuebench -redis URL -dir DIR [-concurrency 4] [-n 20000] [-n-true 2000] [-n-enqueue 20000]
//	           [-producers 16] [-phases enqueue,drain,e2e,producers,batch,true]
//	queuebench worker -dir DIR        (started by the above)
//
// It prints one "name value" line per figure (runs per second).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/worker"
)

const host = "bench"

var ns = queue.Namespace{Cluster: "bench", Env: "bench"}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "worker" {
		fs := flag.NewFlagSet("worker", flag.ExitOnError)
		dir := fs.String("dir", "", "directory holding the generated cl.yaml")
		prof := fs.String("cpuprofile", os.Getenv("QUEUEBENCH_CPUPROFILE"), "write the worker's CPU profile to this file")
		_ = fs.Parse(os.Args[2:])
		if *prof != "" {
			f, err := os.Create(*prof)
			if err == nil && pprof.StartCPUProfile(f) == nil {
				defer pprof.StopCPUProfile()
			}
		}
		if err := runWorker(*dir); err != nil {
			fmt.Fprintln(os.Stderr, "queuebench worker:", err)
		}
		return
	}
	var o opts
	flag.StringVar(&o.url, "redis", "", "redis URL (required)")
	flag.StringVar(&o.dir, "dir", "", "work directory (required)")
	flag.IntVar(&o.concurrency, "concurrency", 4, "worker slots")
	flag.IntVar(&o.n, "n", 20000, "runs for the end-to-end no-op measure")
	flag.IntVar(&o.nTrue, "n-true", 2000, "runs for the subprocess measure")
	flag.IntVar(&o.nEnqueue, "n-enqueue", 20000, "runs for the enqueue measure")
	flag.IntVar(&o.producers, "producers", 16, "concurrent producers (goroutines) in the end-to-end measure with several producers")
	flag.StringVar(&o.phases, "phases", "enqueue,drain,e2e,producers,batch,true", "measures to take, comma-separated")
	prof := flag.String("cpuprofile", "", "write the producer's CPU profile to this file")
	flag.Parse()
	if *prof != "" {
		f, err := os.Create(*prof)
		if err == nil && pprof.StartCPUProfile(f) == nil {
			defer pprof.StopCPUProfile()
		}
	}
	if o.url == "" || o.dir == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "queuebench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

type opts struct {
	url, dir              string
	concurrency, n, nTrue int
	nEnqueue, producers   int
	phases                string

	ctx       context.Context
	cancel    context.CancelFunc
	q         *queue.Queue
	rdb       redis.UniversalClient // the queue's client, for the benchmark's own reads and flushes
	target    string
	workerCmd *exec.Cmd
	workerLog *os.File
}

func run(o opts) error {
	if err := writeConfig(o.dir, o.url, o.concurrency); err != nil {
		return err
	}
	o.ctx, o.cancel = context.WithTimeout(context.Background(), 30*time.Minute)
	defer o.cancel()
	ep, err := queue.ParseURL(o.url)
	if err != nil {
		return err
	}
	rdb, err := ep.Client()
	if err != nil {
		return err
	}
	q, err := queue.New(rdb, ns)
	if err != nil {
		_ = rdb.Close()
		return err
	}
	defer q.Close()
	if err := q.Ping(o.ctx); err != nil {
		return err
	}
	o.q, o.rdb, o.target = q, rdb, queue.HostQueue(host)
	want := map[string]bool{}
	for _, p := range strings.Split(o.phases, ",") {
		want[strings.TrimSpace(p)] = true
	}

	if want["enqueue"] { // no worker running
		for _, clients := range []int{1, 16} {
			rate, err := enqueueRate(o, o.nEnqueue, clients)
			if err != nil {
				return err
			}
			fmt.Printf("cl_enqueue_%d %.0f\n", clients, rate)
		}
	}
	var ids []string
	if want["drain"] { // worker throughput alone: a full queue, then the worker
		if ids, err = enqueueN(o, "ping", config.BuiltinModule, o.n); err != nil {
			return err
		}
	}
	redisBefore := redisCPU(o)
	if err := startWorker(&o); err != nil {
		return err
	}
	defer stopWorker(&o)
	if want["drain"] {
		if err := waitDrained(o); err != nil {
			return err
		}
		rate, err := drainRate(o, ids)
		if err != nil {
			return err
		}
		fmt.Printf("cl_drain_ping %.0f\n", rate)
		// CPU per run: what the two cores spend, whatever else runs.
		n := float64(len(ids))
		fmt.Printf("cl_drain_redis_cpu_us %.1f\n", (redisCPU(o)-redisBefore).Seconds()*1e6/n)
		fmt.Printf("cl_drain_worker_cpu_us %.1f\n", processCPU(o.workerCmd.Process.Pid).Seconds()*1e6/n)
	}
	if _, err := endToEnd(o, "ping", "", 500, 1); err != nil { // warm-up
		return err
	}
	if want["e2e"] {
		before := cpuNow(o)
		rate, err := endToEnd(o, "ping", "", o.n, 1)
		if err != nil {
			return err
		}
		fmt.Printf("cl_e2e_ping %.0f\n", rate)
		cpuNow(o).since(before).print("cl_e2e_ping", o.n)
	}
	if want["producers"] {
		before := cpuNow(o)
		rate, err := endToEnd(o, "ping", "", o.n, o.producers)
		if err != nil {
			return err
		}
		fmt.Printf("cl_e2e_ping_producers %.0f\n", rate)
		cpuNow(o).since(before).print("cl_e2e_ping_producers", o.n)
	}
	if want["batch"] {
		before := cpuNow(o)
		rate, err := endToEndBatched(o, o.n, 100)
		if err != nil {
			return err
		}
		fmt.Printf("cl_e2e_ping_batch %.0f\n", rate)
		cpuNow(o).since(before).print("cl_e2e_ping_batch", o.n)
	}
	if want["true"] {
		rate, err := endToEnd(o, "true", "bench", o.nTrue, 1)
		if err != nil {
			return err
		}
		fmt.Printf("cl_e2e_true %.0f\n", rate)
	}
	return nil
}

// writeConfig writes a one-host configuration whose role loads a module with
// the subprocess task "true".
func writeConfig(dir, url string, concurrency int) error {
	if err := os.MkdirAll(filepath.Join(dir, "tasks"), 0o755); err != nil {
		return err
	}
	cl := fmt.Sprintf(`cluster: {name: bench}
redis: {url: "%s"}
hosts:
  %s: {role: bench, address: 127.0.0.1, connection: local}
workers:
  bench: {queue: bench, concurrency: %d, max_tasks_per_child: 0, tasks: [bench]}
deployment: {target_directory: %s, health_check_url: ""}
`, url, host, concurrency, filepath.Join(dir, "releases"))
	mod := "tasks:\n  true:\n    command: [\"/bin/true\"]\n    timeout: 1m\n"
	if err := os.WriteFile(filepath.Join(dir, "cl.yaml"), []byte(cl), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "tasks", "bench.yaml"), []byte(mod), 0o644)
}

// enqueueRate enqueues n ping runs from the given number of clients and
// returns runs per second; the namespace is emptied afterwards.
func enqueueRate(o opts, n, clients int) (float64, error) {
	start := time.Now()
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for i := c; i < n; i += clients {
				if _, _, err := o.q.Enqueue(o.ctx, &queue.Run{Task: "ping", Module: config.BuiltinModule, Target: o.target}, ""); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return 0, fmt.Errorf("enqueue: %w", err)
	}
	if err := o.rdb.FlushDB(o.ctx).Err(); err != nil {
		return 0, err
	}
	return float64(n) / elapsed.Seconds(), nil
}

// endToEnd enqueues n runs (from producers goroutines at once, the worker consuming meanwhile)
// and waits until every result is stored; it checks that all succeeded and
// returns runs per second.
func endToEnd(o opts, task, module string, n, producers int) (float64, error) {
	if module == "" {
		module = config.BuiltinModule
	}
	ids := make([]string, n)
	start := time.Now()
	errs := make(chan error, producers)
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := p; i < n; i += producers {
				id, _, err := o.q.Enqueue(o.ctx, &queue.Run{Task: task, Module: module, Target: o.target, Timeout: time.Minute}, "")
				if err != nil {
					errs <- err
					return
				}
				ids[i] = id
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, fmt.Errorf("enqueue %s: %w", task, err)
	}
	if err := waitDrained(o); err != nil {
		return 0, err
	}
	elapsed := time.Since(start)
	if err := checkSucceeded(o, ids); err != nil {
		return 0, fmt.Errorf("%s: %w", task, err)
	}
	return float64(n) / elapsed.Seconds(), nil
}

// endToEndBatched is endToEnd for ping with one producer that submits
// batches of runs with EnqueueMany (one round trip per batch), as
// `cl task run --role` does for a role's hosts.
func endToEndBatched(o opts, n, batch int) (float64, error) {
	ids := make([]string, 0, n)
	start := time.Now()
	for len(ids) < n {
		runs := make([]*queue.Run, min(batch, n-len(ids)))
		for i := range runs {
			runs[i] = &queue.Run{Task: "ping", Module: config.BuiltinModule, Target: o.target, Timeout: time.Minute}
		}
		res, err := o.q.EnqueueMany(o.ctx, runs...)
		if err != nil {
			return 0, fmt.Errorf("enqueue ping batch: %w", err)
		}
		for _, e := range res {
			if e.Err != nil {
				return 0, fmt.Errorf("enqueue ping: %w", e.Err)
			}
			ids = append(ids, e.ID)
		}
	}
	if err := waitDrained(o); err != nil {
		return 0, err
	}
	elapsed := time.Since(start)
	if err := checkSucceeded(o, ids); err != nil {
		return 0, fmt.Errorf("ping (batched): %w", err)
	}
	return float64(n) / elapsed.Seconds(), nil
}

// waitDrained waits until the host queue's stream is empty. Complete
// deletes a run's stream entry with its result: an empty stream means every
// result is stored.
func waitDrained(o opts) error {
	stream := o.q.Keys().Stream(o.target)
	for {
		l, err := o.rdb.XLen(o.ctx, stream).Result()
		if err != nil || l == 0 {
			return err
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// enqueueN enqueues n runs from one client, no worker running.
func enqueueN(o opts, task, module string, n int) ([]string, error) {
	ids := make([]string, n)
	for i := range ids {
		id, _, err := o.q.Enqueue(o.ctx, &queue.Run{Task: task, Module: module, Target: o.target, Timeout: time.Minute}, "")
		if err != nil {
			return nil, fmt.Errorf("enqueue %s: %w", task, err)
		}
		ids[i] = id
	}
	return ids, nil
}

// drainRate is runs per second from the first start to the last finish
// recorded in the runs, which all must have succeeded.
func drainRate(o opts, ids []string) (float64, error) {
	if err := checkSucceeded(o, ids); err != nil {
		return 0, err
	}
	var first, last int64
	for lo := 0; lo < len(ids); lo += 1000 {
		pipe := o.rdb.Pipeline()
		cmds := make([]*redis.SliceCmd, 0, 1000)
		for _, id := range ids[lo:min(lo+1000, len(ids))] {
			cmds = append(cmds, pipe.HMGet(o.ctx, o.q.Keys().Run(o.target, id), "started", "finished"))
		}
		if _, err := pipe.Exec(o.ctx); err != nil {
			return 0, fmt.Errorf("read run times: %w", err)
		}
		for _, c := range cmds {
			v := c.Val()
			st, _ := strconv.ParseInt(fmt.Sprint(v[0]), 10, 64)
			fin, _ := strconv.ParseInt(fmt.Sprint(v[1]), 10, 64)
			if first == 0 || st < first {
				first = st
			}
			last = max(last, fin)
		}
	}
	return float64(len(ids)) / (float64(last-first) / 1000), nil
}

// checkSucceeded reads the state of every run, pipelined.
func checkSucceeded(o opts, ids []string) error {
	for lo := 0; lo < len(ids); lo += 1000 {
		hi := min(lo+1000, len(ids))
		pipe := o.rdb.Pipeline()
		for _, id := range ids[lo:hi] {
			pipe.HGet(o.ctx, o.q.Keys().Run(o.target, id), "state")
		}
		cmds, err := pipe.Exec(o.ctx)
		if err != nil {
			return fmt.Errorf("read states: %w", err)
		}
		for i, c := range cmds {
			if s := c.(interface{ Val() string }).Val(); s != string(queue.StateSucceeded) {
				return fmt.Errorf("run %s is %q, want succeeded (see worker.log in the work directory)", ids[lo+i], s)
			}
		}
	}
	return nil
}

// cpuTimes is the CPU time used so far by Redis, the worker process and
// this (producer) process.
type cpuTimes struct{ redis, worker, producer time.Duration }

func cpuNow(o opts) cpuTimes {
	return cpuTimes{redisCPU(o), processCPU(o.workerCmd.Process.Pid), processCPU(os.Getpid())}
}

func (c cpuTimes) since(b cpuTimes) cpuTimes {
	return cpuTimes{c.redis - b.redis, c.worker - b.worker, c.producer - b.producer}
}

// print writes the CPU microseconds per run of each process.
func (c cpuTimes) print(name string, n int) {
	us := func(d time.Duration) float64 { return d.Seconds() * 1e6 / float64(n) }
	fmt.Printf("%s_redis_cpu_us %.1f\n%s_worker_cpu_us %.1f\n%s_producer_cpu_us %.1f\n",
		name, us(c.redis), name, us(c.worker), name, us(c.producer))
}

// redisCPU is the CPU time the Redis server has used (INFO cpu).
func redisCPU(o opts) time.Duration {
	info, err := o.rdb.Info(o.ctx, "cpu").Result()
	if err != nil {
		return 0
	}
	var total float64
	for _, line := range strings.Split(info, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		if k == "used_cpu_sys" || k == "used_cpu_user" {
			f, _ := strconv.ParseFloat(v, 64)
			total += f
		}
	}
	return time.Duration(total * float64(time.Second))
}

// processCPU is the CPU time process pid has used (user + system, from
// /proc/<pid>/stat).
func processCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// startWorker runs `queuebench worker` and waits for its heartbeat.
func startWorker(o *opts) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	o.workerLog, err = os.Create(filepath.Join(o.dir, "worker.log"))
	if err != nil {
		return err
	}
	o.workerCmd = exec.Command(self, "worker", "-dir", o.dir)
	o.workerCmd.Stdout, o.workerCmd.Stderr = o.workerLog, o.workerLog
	if err := o.workerCmd.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	for range 500 {
		if _, ok, _ := o.q.Worker(o.ctx, host); ok {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("worker sent no heartbeat within 10s (see %s)", o.workerLog.Name())
}

func stopWorker(o *opts) {
	if o.workerCmd == nil {
		return
	}
	_ = o.workerCmd.Process.Signal(syscall.SIGTERM)
	_ = o.workerCmd.Wait()
	_ = o.workerLog.Close()
}

// runWorker is the worker process: package worker on the generated config,
// as `cl worker --host bench` runs it, until SIGTERM.
func runWorker(dir string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	cfg, _, err := config.LoadValid(config.Options{Path: filepath.Join(dir, "cl.yaml")})
	if err != nil {
		return err
	}
	q, err := queue.Open(ctx, cfg.Redis.URL, ns)
	if err != nil {
		return err
	}
	defer q.Close()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	abs, _ := filepath.Abs(dir)
	return worker.Run(ctx, worker.Options{Config: cfg, Host: host, Queue: q, ReleaseDir: abs, SHA: "bench",
		Version: "bench", HealthAddr: "-", Logger: log, Grace: 5 * time.Second})
}
