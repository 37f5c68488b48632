package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/queue/queuetest"
)

// beatQueue opens the namespace of the beat fleet for counting runs.
func beatQueue(t *testing.T, redisAddr string) *queue.Queue {
	t.Helper()
	q, err := queue.Open(context.Background(), "redis://"+redisAddr+"/0", queue.Namespace{Cluster: "e2ebeat"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// TestBeatLeaderKilledExactlyOnce runs three beats on seconds schedules,
// SIGKILLs whichever leads every few seconds (restarting it as a new
// standby), reloads the configuration halfway (a third host joins the
// targets) by SIGHUP to the leader, and then checks, per schedule, that
// every tick of the run has exactly one run per targeted host.
func TestBeatLeaderKilledExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e")
	}
	duration := 75 * time.Second // 3 schedules × 75 ticks
	if os.Getenv("CL_E2E_LONG") == "1" {
		duration = 5 * time.Minute
	}
	redisAddr := StartRedis(t, "127.0.0.1")
	fleet := &beatFleet{Dir: t.TempDir(), Hosts: []string{"h1", "h2"}, Schedules: []string{"s1", "s2", "s3"}}
	c := &beatCluster{t: t, q: beatQueue(t, redisAddr), cfg: fleet.write(t, redisAddr), dir: fleet.Dir, lease: 2 * time.Second, beats: map[string]*beatProc{}}
	for i := range 3 {
		c.start(fmt.Sprintf("b%d", i))
	}
	waitLeader(t, c.q, 10*time.Second, func(string) bool { return true })
	start := time.Now()
	var reloadAt time.Time
	var killedAt []time.Time
	for time.Since(start) < duration {
		time.Sleep(time.Duration(3000+rand.IntN(3000)) * time.Millisecond)
		if reloadAt.IsZero() && time.Since(start) > duration/2 {
			fleet.Hosts = append(fleet.Hosts, "h3")
			fleet.write(t, redisAddr)
			c.leader().signal(syscall.SIGHUP)
			reloadAt = time.Now()
		} else if at := c.killLeader(); !at.IsZero() {
			killedAt = append(killedAt, at)
		}
	}
	end := time.Now().Unix() - 1
	time.Sleep(2 * c.lease) // let the last fires land
	for _, p := range c.beats {
		p.terminate()
	}
	if len(killedAt) < 8 {
		t.Errorf("only %d leader kills in %v", len(killedAt), duration)
	}
	takeover, recovered, dups := failoverStats(t, c.all, killedAt)
	ticks := checkHostsPerTick(t, queuetest.RunsPerTick(t, c.q, []string{"h1", "h2", "h3"}), fleet.Schedules, start.Unix()+1, end, reloadAt.Unix())
	t.Logf("%d ticks over %v, %d leader kills (SIGKILL), reload at +%v: every tick fired exactly once",
		ticks, duration, len(killedAt), reloadAt.Sub(start).Round(time.Second))
	t.Logf("takeover after a kill: max %v (lease %v); %d fires finished by a sweep, %d runs found already enqueued",
		takeover.Round(time.Millisecond), c.lease, recovered, dups)
	if takeover > c.lease+time.Second {
		t.Errorf("a standby took %v to take over (lease %v)", takeover, c.lease)
	}
}

// beatCluster is a set of beat processes on one configuration.
type beatCluster struct {
	t        *testing.T
	q        *queue.Queue
	cfg, dir string
	lease    time.Duration
	beats    map[string]*beatProc // running, by id
	all      []*beatProc          // ever started
	gen      int
}

func (c *beatCluster) start(id string) {
	p := startBeatProc(c.t, c.cfg, c.dir, id, c.lease)
	c.beats[id] = p
	c.all = append(c.all, p)
}

func (c *beatCluster) leader() *beatProc {
	p := c.beats[leaderID(c.t, c.q)]
	if p == nil {
		c.t.Fatalf("leader %q is not one of ours", leaderID(c.t, c.q))
	}
	return p
}

// killLeader SIGKILLs the leader right after a tick, when it is likely
// claiming or enqueueing (so that new leaders have half-done fires to
// finish), and starts a new beat in its place. It returns when it killed,
// or zero between leaders.
func (c *beatCluster) killLeader() time.Time {
	id := leaderID(c.t, c.q)
	p := c.beats[id]
	if p == nil {
		return time.Time{}
	}
	now := time.Now()
	time.Sleep(now.Truncate(time.Second).Add(time.Second + time.Duration(rand.IntN(3000))*time.Microsecond).Sub(now))
	p.kill()
	at := time.Now()
	delete(c.beats, id)
	c.gen++
	c.start(fmt.Sprintf("%s-r%d", id[:2], c.gen))
	return at
}

// checkHostsPerTick fails unless every tick in [first, end] of every
// schedule has one run per host: 2 hosts, 3 after the reload (either around
// it). It returns the number of ticks checked.
func checkHostsPerTick(t *testing.T, counts map[string]map[int64]int, schedules []string, first, end, reload int64) int {
	t.Helper()
	ticks := 0
	for _, s := range schedules {
		for tick := first; tick <= end; tick++ {
			ticks++
			n, want := counts[s][tick], 2
			if tick > reload+1 {
				want = 3
			}
			if n == want || (n == 2 || n == 3) && tick >= reload-1 && tick <= reload+1 {
				continue
			}
			t.Errorf("schedule %s tick %s: %d runs, want %d", s, time.Unix(tick, 0).Format("15:04:05"), n, want)
		}
		for tick, n := range counts[s] {
			if n > 3 {
				t.Errorf("schedule %s tick %d fired more than once: %d runs", s, tick, n)
			}
		}
	}
	return ticks
}

// failoverStats reads the beats' logs: the longest time from a kill to the
// next "leader" event, and the fires finished by sweeps.
func failoverStats(t *testing.T, procs []*beatProc, kills []time.Time) (takeover time.Duration, recovered, dups int) {
	var leads []time.Time
	for _, p := range procs {
		for _, ev := range p.events(t, "beat role", "leader") {
			leads = append(leads, ev.Time)
		}
		for _, ev := range p.events(t, "fired", "") {
			if ev.Recovered {
				recovered++
			}
			dups += ev.Duplicates
		}
	}
	sort.Slice(leads, func(i, j int) bool { return leads[i].Before(leads[j]) })
	for _, k := range kills {
		i := sort.Search(len(leads), func(i int) bool { return leads[i].After(k) })
		if i == len(leads) {
			t.Errorf("no beat took over after the kill at %s", k.Format(time.StampMilli))
			continue
		}
		takeover = max(takeover, leads[i].Sub(k))
	}
	return takeover, recovered, dups
}

// TestBeatCutOffStopsBeforeStandbyStarts puts the leader behind a proxy and
// freezes it (a partition: the leader's renewals hang). The leader must
// stop firing, on its own clock, before the standby takes the lease; when
// the proxy thaws, the cut-off leader's delayed commands reach Redis and
// are fenced off. Every tick still fires exactly once.
func TestBeatCutOffStopsBeforeStandbyStarts(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e")
	}
	const lease = 2 * time.Second
	redisAddr := StartRedis(t, "127.0.0.1")
	q := beatQueue(t, redisAddr)
	proxy := startFreezeProxy(t, redisAddr)
	dir := t.TempDir()
	fleet := &beatFleet{Dir: dir, Hosts: []string{"h1", "h2"}, Schedules: []string{"s1"}}
	viaProxy, direct := fleet.write(t, proxy.Addr()), fleet.write(t, redisAddr)

	a := startBeatProc(t, viaProxy, dir, "a", lease)
	waitLeader(t, q, 10*time.Second, func(id string) bool { return id == "a" })
	b := startBeatProc(t, direct, dir, "b", lease)
	first := time.Now().Unix() + 1
	time.Sleep(3 * time.Second)

	proxy.frozen.Store(true)
	frozeAt := time.Now()
	waitLeader(t, q, 3*lease, func(id string) bool { return id == "b" })
	time.Sleep(time.Second)
	proxy.frozen.Store(false) // the stale commands arrive now
	time.Sleep(3 * time.Second)
	end := time.Now().Unix() - 1
	time.Sleep(lease)
	a.terminate()
	b.terminate()

	// a's local validity, checked before each claim, ends when a stops
	// firing; b's lease starts when b sent the command that took it. Both
	// are read from the same machine's clock.
	stopped := a.events(t, "stopped leading", "")
	took := b.events(t, "leading", "")
	if len(stopped) == 0 || len(took) == 0 {
		t.Fatalf("log events: a stopped leading %d times, b became leader %d times", len(stopped), len(took))
	}
	aStop, bLead := stopped[0].ValidUntil, took[0].Since
	if aStop.IsZero() || bLead.IsZero() {
		t.Fatalf("log events lack times: %+v %+v", stopped[0], took[0])
	}
	if !aStop.Before(bLead) {
		t.Errorf("the cut-off leader stopped at %s, after the standby took over at %s", aStop.Format(time.StampMicro), bLead.Format(time.StampMicro))
	}
	t.Logf("frozen at %s; a stopped firing %v later, b led %v after that (lease %v)",
		frozeAt.Format(time.StampMilli), aStop.Sub(frozeAt).Round(time.Millisecond), bLead.Sub(aStop).Round(time.Millisecond), lease)

	counts := queuetest.RunsPerTick(t, q, fleet.Hosts)
	var bad []string
	for tick := first; tick <= end; tick++ {
		if n := counts["s1"][tick]; n != 2 {
			bad = append(bad, fmt.Sprintf("%s:%d", time.Unix(tick, 0).Format("15:04:05"), n))
		}
	}
	sort.Strings(bad)
	if len(bad) > 0 {
		t.Errorf("ticks without exactly one run per host: %v", bad)
	}
}

// TestBeatRestartForCD drives the local beat the way a CD pipeline does:
// restart (nothing running), restart again (the old one is stopped first
// and hands its lease over), status, stop.
func TestBeatRestartForCD(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e")
	}
	redisAddr := StartRedis(t, "127.0.0.1")
	q := beatQueue(t, redisAddr)
	dir := t.TempDir()
	fleet := &beatFleet{Dir: dir, Hosts: []string{"h1"}, Schedules: []string{"s1"}}
	cfg := fleet.write(t, redisAddr)
	pidfile := dir + "/beat.pid"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	t.Cleanup(func() { RunCL(t, context.Background(), "-c", cfg, "beat", "stop", "--pidfile", pidfile) })

	out, stderr, code := RunCL(t, ctx, "beat", "restart", cfg, "--pidfile", pidfile, "--lease", "1s", "--id", "first")
	if code != 0 || !strings.Contains(out, "beat first") || !strings.Contains(out, "is leader") {
		t.Fatalf("first restart: %d %s %s", code, out, stderr)
	}
	out, stderr, code = RunCL(t, ctx, "beat", "restart", cfg, "--pidfile", pidfile, "--lease", "1s", "--id", "second")
	if code != 0 || !strings.Contains(stderr, "stopped beat pid") || !strings.Contains(out, "beat second") {
		t.Fatalf("second restart: %d %s %s", code, out, stderr)
	}
	waitLeader(t, q, 5*time.Second, func(id string) bool { return id == "second" })
	out, _, code = RunCL(t, ctx, "-c", cfg, "-o", "json", "beat", "status")
	var st struct {
		Leader struct{ ID string }
		Beats  []struct{ ID, Role string }
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || code != 0 || st.Leader.ID != "second" || len(st.Beats) != 1 {
		t.Fatalf("status after restart: %v %d %s", err, code, out)
	}
	if out, stderr, code := RunCL(t, ctx, "-c", cfg, "beat", "stop", "--pidfile", pidfile); code != 0 || !strings.Contains(out, "stopped") {
		t.Fatalf("stop: %d %s %s", code, out, stderr)
	}
	if id := leaderID(t, q); id != "" {
		t.Errorf("lease still held by %q after a clean stop", id)
	}
}
