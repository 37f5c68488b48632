package schedule_test

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/queue/queuetest"
	"github.com/celeroot/celeroot/schedule"
)

// testSet is a set with one seconds schedule per name, each on all hosts.
func testSet(hosts []string, names ...string) *schedule.Set {
	set := &schedule.Set{SHA: "t1", Source: "test"}
	for _, h := range hosts {
		set.Hosts = append(set.Hosts, schedule.Host{Name: h, Role: "web"})
	}
	for _, n := range names {
		set.Schedules = append(set.Schedules, schedule.Spec{
			Name: n, Cron: "* * * * * *", Enabled: true, Catchup: schedule.CatchupOnce,
			Targets: []config.Target{{Role: "web"}},
			Tasks:   map[string]schedule.TaskRun{"web": {Task: "ping", Module: "builtin"}},
		})
	}
	return set
}

func redisQueue(t *testing.T) queuetest.NewQueue {
	t.Helper()
	if testing.Short() {
		t.Skip("needs redis-server")
	}
	return queuetest.Opener(queuetest.StartRedis(t).URL())
}

// startBeat runs a beat until the test ends (or stop is called).
func startBeat(t *testing.T, q *queue.Queue, set *schedule.Set, opts schedule.Options) (b *schedule.Beat, stop func()) {
	t.Helper()
	if opts.Lease == 0 {
		opts.Lease = 600 * time.Millisecond
	}
	b, err := schedule.NewFromSet(set, q, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = b.Run(ctx); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return b, stop
}

// checkExactlyOnce fails unless every second in [from, to] of every
// schedule has exactly want runs (one per host).
func checkExactlyOnce(t *testing.T, counts map[string]map[int64]int, names []string, from, to int64, want int) {
	t.Helper()
	for _, n := range names {
		var bad []int64
		for s := from; s <= to; s++ {
			if counts[n][s] != want {
				bad = append(bad, s)
			}
		}
		if len(bad) > 0 {
			t.Errorf("schedule %s: %d of %d ticks do not have %d runs, e.g. %v: %v", n, len(bad), to-from+1, want, bad[0], counts[n][bad[0]])
		}
	}
}

func waitRole(t *testing.T, b *schedule.Beat, r schedule.Role, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for b.Role() != r {
		if time.Now().After(deadline) {
			t.Fatalf("beat %s is %s, not %s, after %v", b.ID(), b.Role(), r, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestBeatTwoBeatsFireEachTickOnce(t *testing.T) {
	q := redisQueue(t)(t)
	hosts := []string{"web1", "web2"}
	set := testSet(hosts, "every-second")
	var mu sync.Mutex
	var late []time.Duration
	onFire := func(ev schedule.FireEvent) {
		mu.Lock()
		late = append(late, ev.Done.Sub(ev.Tick))
		mu.Unlock()
	}
	a, _ := startBeat(t, q, set, schedule.Options{ID: "a", OnFire: onFire})
	waitRole(t, a, schedule.RoleLeader, 3*time.Second)
	b, _ := startBeat(t, q, set, schedule.Options{ID: "b", OnFire: onFire})
	waitRole(t, b, schedule.RoleStandby, 3*time.Second)
	start := time.Now().Unix() + 1
	time.Sleep(3500 * time.Millisecond)
	end := time.Now().Unix() - 1
	checkExactlyOnce(t, queuetest.RunsPerTick(t, q, hosts), []string{"every-second"}, start, end, 2)
	mu.Lock()
	defer mu.Unlock()
	sort.Slice(late, func(i, j int) bool { return late[i] < late[j] })
	if p := late[len(late)-1]; p > 500*time.Millisecond {
		t.Errorf("slowest fire %v after its tick", p)
	}
}

func TestBeatFailoverNoGapNoDouble(t *testing.T) {
	q := redisQueue(t)(t)
	hosts := []string{"h1"}
	set := testSet(hosts, "s1", "s2")
	a, stopA := startBeat(t, q, set, schedule.Options{ID: "a"})
	waitRole(t, a, schedule.RoleLeader, 3*time.Second)
	b, _ := startBeat(t, q, set, schedule.Options{ID: "b"})
	c, _ := startBeat(t, q, set, schedule.Options{ID: "c"})
	start := time.Now().Unix() + 1
	time.Sleep(1500 * time.Millisecond)

	// Steal the lease the way a partition would end it: a's next renewal
	// finds another value, a stops firing, and a standby takes over.
	if err := queuetest.Client(q).Set(context.Background(), q.Keys().LeaseKey(queue.LeaseBeat), "intruder|999", 700*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	waitRole(t, a, schedule.RoleStandby, 2*time.Second)
	time.Sleep(2 * time.Second)
	if b.Role() != schedule.RoleLeader && c.Role() != schedule.RoleLeader && a.Role() != schedule.RoleLeader {
		t.Fatalf("no leader after the intruder's lease expired: a=%s b=%s c=%s", a.Role(), b.Role(), c.Role())
	}
	stopA() // graceful: hands over at once
	time.Sleep(1500 * time.Millisecond)
	end := time.Now().Unix() - 1
	checkExactlyOnce(t, queuetest.RunsPerTick(t, q, hosts), []string{"s1", "s2"}, start, end, 1)
}

func TestBeatReloadWhileFiring(t *testing.T) {
	q := redisQueue(t)(t)
	set1 := testSet([]string{"h1", "h2"}, "keep", "gone")
	a, _ := startBeat(t, q, set1, schedule.Options{ID: "a"})
	waitRole(t, a, schedule.RoleLeader, 3*time.Second)
	b, _ := startBeat(t, q, set1, schedule.Options{ID: "b"})
	start := time.Now().Unix() + 1
	time.Sleep(1700 * time.Millisecond)

	set2 := testSet([]string{"h1", "h2", "h3"}, "keep", "new")
	set2.SHA = "t2"
	if err := a.ReloadSet(context.Background(), set2); err != nil {
		t.Fatal(err)
	}
	swapped := time.Now().Unix()
	deadline := time.Now().Add(3 * time.Second)
	for {
		if got, _ := b.Loaded(); got.SHA == "t2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the standby did not follow the published set")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	end := time.Now().Unix() - 1
	counts := queuetest.RunsPerTick(t, q, []string{"h1", "h2", "h3"})
	// "keep" fires every second across the swap, to 2 hosts then 3.
	for s := start; s <= end; s++ {
		n := counts["keep"][s]
		if n != 2 && n != 3 || s > swapped+1 && n != 3 || s < swapped-1 && n != 2 {
			t.Errorf("keep at %d (swap at %d): %d runs", s, swapped, n)
		}
	}
	for s := swapped + 2; s <= end; s++ { // a tick claimed ahead before the swap may still fire
		if counts["gone"][s] != 0 {
			t.Errorf("removed schedule fired at %d", s)
		}
	}
	checkExactlyOnce(t, counts, []string{"new"}, swapped+2, end, 3)
}

func TestBeatCatchupAfterOutage(t *testing.T) {
	q := redisQueue(t)(t)
	hosts := []string{"h1"}
	set := testSet(hosts, "once", "none")
	set.Schedules[0].StartingDeadlineMS = 10_000
	set.Schedules[1].Catchup = schedule.CatchupNone
	opts := schedule.Options{ID: "a", Lease: 200 * time.Millisecond, LateWindow: 300 * time.Millisecond}
	a, stop := startBeat(t, q, set, opts)
	waitRole(t, a, schedule.RoleLeader, 3*time.Second)
	time.Sleep(1200 * time.Millisecond)
	stop()
	down := time.Now()
	time.Sleep(2500 * time.Millisecond) // no beat: ticks are missed
	opts.ID = "b"
	b, _ := startBeat(t, q, set, opts)
	waitRole(t, b, schedule.RoleLeader, 3*time.Second)
	up := time.Now()
	time.Sleep(1200 * time.Millisecond)
	counts := queuetest.RunsPerTick(t, q, hosts)
	for _, n := range []string{"once", "none"} {
		for s, c := range counts[n] {
			if c != 1 {
				t.Errorf("%s at %d: %d runs", n, s, c)
			}
		}
	}
	// Missed: after the first beat stopped, and older than the late window
	// when the second one started leading.
	missedOnce, missedNone := 0, 0
	for s := down.Unix() + 1; time.Unix(s, 0).Before(up.Add(-opts.LateWindow - 100*time.Millisecond)); s++ {
		missedOnce += counts["once"][s]
		missedNone += counts["none"][s]
	}
	if missedNone != 0 {
		t.Errorf("catchup none fired %d missed ticks", missedNone)
	}
	if missedOnce != 1 {
		t.Errorf("catchup once fired %d missed ticks, want 1 (the latest): %v", missedOnce, counts["once"])
	}
}
