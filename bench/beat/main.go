// Command beat benchmarks the scheduler: N schedules of mixed cron
// expressions fired by one beat (package schedule, as `cl beat` runs it)
// into a local redis-server, for a while. It prints the lateness of fires
// against their due time (the moment every host's run was enqueued, minus
// the tick) and the beat process's CPU while idle between ticks and overall.
//
// Usage: go run ./bench/beat -redis redis://127.0.0.1:6379/0 [-schedules 10000] [-hosts 100] [-duration 3m]
// bench/beat/run.sh starts a throwaway redis-server and runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/schedule"
)

func main() {
	url := flag.String("redis", "redis://127.0.0.1:6379/0", "Redis URL (a throwaway server: the namespace is flushed)")
	n := flag.Int("schedules", 10000, "number of schedules")
	hosts := flag.Int("hosts", 100, "hosts; each schedule targets one")
	duration := flag.Duration("duration", 3*time.Minute, "how long the beat fires")
	mix := flag.String("mix", "spread", "cron mix: spread (schedules at varied minutes, as fleets write them) or aligned (many share each minute)")
	fanOut := flag.Int("fanout", 0, "enqueues in flight (0: the beat's default)")
	profile := flag.String("cpuprofile", "", "write a CPU profile to this file")
	flag.Parse()
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench/beat:", err)
			os.Exit(1)
		}
		_ = pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	classes, ok := mixes[*mix]
	if !ok {
		fmt.Fprintf(os.Stderr, "bench/beat: unknown -mix %q: use spread or aligned\n", *mix)
		os.Exit(2)
	}
	if err := run(*url, *mix, mixedSet(classes, *n, *hosts), *hosts, *duration, *fanOut); err != nil {
		fmt.Fprintln(os.Stderr, "bench/beat:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(url, mix string, set *schedule.Set, hosts int, duration time.Duration, fanOut int) error {
	ctx := context.Background()
	q, err := queue.Open(ctx, url, queue.Namespace{Cluster: fmt.Sprintf("bench%d", time.Now().UnixNano()%1e6)}, queue.WithRunTTL(time.Hour))
	if err != nil {
		return err
	}
	defer q.Close()
	rec := &recorder{}
	b, err := schedule.NewFromSet(set, q, schedule.Options{ID: "bench", OnFire: rec.fire, FanOut: fanOut,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return err
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = b.Run(rctx); close(done) }()
	for b.Role() != schedule.RoleLeader {
		time.Sleep(10 * time.Millisecond)
	}
	n := len(set.Schedules)
	fmt.Fprintf(os.Stderr, "bench/beat: %d schedules (%s mix) on %d hosts, firing for %v\n", n, mix, hosts, duration)
	idle := measure(duration)
	cancel()
	<-done
	report(mix, n, hosts, duration, rec, idle)
	return nil
}

// class is a kind of cron expression: its share of the schedules and a
// generator.
type class struct {
	share float64
	name  string
	gen   func(r *rand.Rand) string
}

var (
	minute = func(*rand.Rand) string { return "* * * * *" }
	every  = func(step int) func(*rand.Rand) string {
		return func(r *rand.Rand) string { return fmt.Sprintf("%d-59/%d * * * *", r.IntN(step), step) }
	}
	hourly   = func(r *rand.Rand) string { return fmt.Sprintf("%d * * * *", r.IntN(60)) }
	daily    = func(r *rand.Rand) string { return fmt.Sprintf("%d %d * * *", r.IntN(60), r.IntN(24)) }
	weekdays = func(r *rand.Rand) string { return fmt.Sprintf("%d %d * * 1-5", r.IntN(60), r.IntN(24)) }
	monthly  = func(r *rand.Rand) string {
		return []string{"0 0 L * *", "30 12 15W * *", "0 9 * * 1#1", "0 18 * * 5L"}[r.IntN(4)]
	}
	seconds = func(*rand.Rand) string { return "*/30 * * * * *" }
)

// mixes of cron expressions. spread is how fleets write schedules: varied
// minutes, a few every-minute and seconds ones; aligned puts thousands on
// the same minute boundaries (every minute, */5, */15 from minute 0).
var mixes = map[string][]class{
	"spread": {
		{0.03, "every minute", minute},
		{0.01, "every 30 seconds", seconds},
		{0.06, "every 5 minutes at an offset", every(5)},
		{0.05, "every 10 minutes at an offset", every(10)},
		{0.07, "every 15 minutes at an offset", every(15)},
		{0.35, "hourly at a random minute", hourly},
		{0.30, "daily at a random time", daily},
		{0.08, "weekdays at a random time", weekdays},
		{0.05, "monthly L / W / #", monthly},
	},
	"aligned": {
		{0.15, "every minute", minute},
		{0.10, "every 2 minutes", func(*rand.Rand) string { return "*/2 * * * *" }},
		{0.10, "every 5 minutes", func(*rand.Rand) string { return "*/5 * * * *" }},
		{0.10, "every 10 minutes at an offset", every(10)},
		{0.10, "every 15 minutes", func(*rand.Rand) string { return "*/15 * * * *" }},
		{0.15, "hourly at a random minute", hourly},
		{0.10, "daily at a random time", daily},
		{0.05, "weekdays at a random time", weekdays},
		{0.05, "monthly L / W / #", monthly},
		{0.10, "every minute", minute},
	},
}

var zones = []string{"Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Lord_Howe"}

// mixedSet builds n schedules of the classes, each on one host; a quarter
// of them in DST zones.
func mixedSet(classes []class, n, hosts int) *schedule.Set {
	r := rand.New(rand.NewPCG(1, 2))
	set := &schedule.Set{SHA: "bench", Source: "bench"}
	for h := range hosts {
		set.Hosts = append(set.Hosts, schedule.Host{Name: fmt.Sprintf("h%03d", h), Role: "web"})
	}
	task := map[string]schedule.TaskRun{"web": {Task: "ping", Module: "builtin", TimeoutMS: 60000}}
	i := 0
	for ci, c := range classes {
		count := int(c.share * float64(n))
		if ci == len(classes)-1 {
			count = n - i
		}
		for range count {
			tz := "UTC"
			if r.IntN(4) == 0 {
				tz = zones[r.IntN(len(zones))]
			}
			set.Schedules = append(set.Schedules, schedule.Spec{
				Name: fmt.Sprintf("s%05d", i), Cron: c.gen(r), Timezone: tz, Enabled: true, Catchup: schedule.CatchupOnce,
				Targets: []config.Target{{Host: fmt.Sprintf("h%03d", i%hosts)}}, Tasks: task,
			})
			i++
		}
	}
	return set
}

// recorder collects the lateness of every fire.
type recorder struct {
	mu      sync.Mutex
	late    []time.Duration
	perSec  map[int64]int           // fires per tick second
	lastSec map[int64]time.Duration // latest fire per tick second
	errs    int
}

func (r *recorder) fire(ev schedule.FireEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.perSec == nil {
		r.perSec, r.lastSec = map[int64]int{}, map[int64]time.Duration{}
	}
	late := ev.Done.Sub(ev.Tick)
	r.late = append(r.late, late)
	r.perSec[ev.Tick.Unix()]++
	r.lastSec[ev.Tick.Unix()] = max(r.lastSec[ev.Tick.Unix()], late)
	r.errs += ev.Errors
}

// idleCPU is CPU time used while no tick was due.
type idleCPU struct {
	cpu, wall   time.Duration // between ticks: seconds 35 to 55 of each minute
	totalCPU    time.Duration
	totalWall   time.Duration
	idleWindows int
}

// measure runs for d, sampling the process CPU at seconds 35 and 55 of
// each minute (no schedule of either mix fires in between).
func measure(d time.Duration) idleCPU {
	var res idleCPU
	start, startCPU := time.Now(), cpuTime()
	for time.Since(start) < d {
		now := time.Now()
		from := now.Truncate(time.Minute).Add(35 * time.Second)
		if now.After(from) {
			from = from.Add(time.Minute)
		}
		if from.Add(20*time.Second).Sub(start) > d {
			time.Sleep(d - time.Since(start))
			break
		}
		time.Sleep(time.Until(from))
		c0, w0 := cpuTime(), time.Now()
		time.Sleep(20 * time.Second)
		res.cpu += cpuTime() - c0
		res.wall += time.Since(w0)
		res.idleWindows++
	}
	res.totalCPU, res.totalWall = cpuTime()-startCPU, time.Since(start)
	return res
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func report(mix string, n, hosts int, d time.Duration, rec *recorder, idle idleCPU) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	late := rec.late
	sort.Slice(late, func(i, j int) bool { return late[i] < late[j] })
	pct := func(p float64) string {
		if len(late) == 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f ms", float64(late[min(len(late)-1, int(p*float64(len(late))))].Microseconds())/1000)
	}
	busiest, rate := 0, "-"
	for sec, c := range rec.perSec {
		if c > busiest {
			busiest = c
			if l := rec.lastSec[sec]; l > 0 {
				rate = fmt.Sprintf("%.0f/s", float64(c)/l.Seconds())
			}
		}
	}
	pctCPU := func(cpu, wall time.Duration) string {
		if wall == 0 {
			return "-"
		}
		return fmt.Sprintf("%.3f %% (%v in %v)", 100*float64(cpu)/float64(wall), cpu.Round(time.Millisecond), wall.Round(time.Second))
	}
	fmt.Printf("| %s | %d | %d | %v | %d | %d (%s) | %s | %s | %s | %d | %s | %s |\n", mix, n, hosts, d, len(late), busiest, rate,
		pct(0.50), pct(0.99), pct(1), rec.errs, pctCPU(idle.cpu, idle.wall), pctCPU(idle.totalCPU, idle.totalWall))
}
