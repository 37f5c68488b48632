package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/reconcile"
)

// TestBlueGreenFleets runs the seed's blue-green sequence on real sshd
// hosts and a real redis-server: blue (2 hosts) deployed, a beat firing an
// every-second schedule and ad-hoc tasks; green created by cloning blue,
// deployed with --cluster, switched to; every tick fired exactly once, on
// one fleet, and on green after the switch; tasks without --cluster go to
// the active fleet; switch back and forth; destroy blue refused while
// active, then done: its workers stopped, its queues and hosts gone.
func TestBlueGreenFleets(t *testing.T) {
	d := newDeployFleet(t, 4, "")
	hs := d.f.Hosts
	var b strings.Builder
	fmt.Fprintf(&b, "cluster:\n  name: e2e\nredis:\n  url: redis://%s/0\n", d.redis)
	fmt.Fprintf(&b, "ssh:\n  default_user: %s\n  default_key: %s\n  known_hosts: %s\n  timeout: 5s\n", d.f.User, d.f.KeyPath, d.f.KnownHostsPath)
	fmt.Fprintf(&b, "hosts:\n  blue-1:\n    role: web\n    address: %s\n    fleet: blue\n  blue-2:\n    role: web\n    address: %s\n    fleet: blue\n", hs[0].Addr, hs[1].Addr)
	b.WriteString("workers:\n  web:\n    concurrency: 4\n    tasks: [checks]\n" + deploymentYAML)
	b.WriteString("schedules:\n  tick:\n    cron: \"* * * * * *\"\n    task: checks.hello\n    targets:\n      - role: web\n")
	d.write("cl.yaml", b.String())
	d.commit("blue fleet")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	t0 := time.Now()
	mark := func(what string) { t.Logf("%5.1fs %s", time.Since(t0).Seconds(), what) }
	mustCL := func(what string, args ...string) string {
		t.Helper()
		out, stderr, code := d.cl(ctx, args...)
		if code != 0 {
			t.Fatalf("%s: cl %v: exit %d\n%s%s", what, args, code, out, stderr)
		}
		return out
	}

	mustCL("deploy blue", "host", "deploy", "--all")
	mark("blue deployed")
	beat := startBeatProc(t, d.cfg, t.TempDir(), "b1", 2*time.Second)
	taskHosts := func(args ...string) []string {
		t.Helper()
		var subs []struct{ Host string }
		if err := json.Unmarshal([]byte(mustCL("task", append([]string{"-o", "json", "task", "run", "hello", "--role", "web"}, args...)...)), &subs); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, s := range subs {
			out = append(out, s.Host)
		}
		return out
	}
	if got := taskHosts(); strings.Join(got, ",") != "blue-1,blue-2" {
		t.Fatalf("a task before the switch went to %v, want blue's hosts", got)
	}

	// Create green by cloning blue, deploy it alone.
	out := mustCL("create green", "cluster", "create", "green", "--clone", "blue", "--hosts", hs[2].Addr+","+hs[3].Addr)
	if !strings.Contains(out, "added host green-1") || !strings.Contains(out, "committed") {
		t.Fatalf("create green printed:\n%s", out)
	}
	if msg := d.git("log", "-1", "--format=%s"); msg != "cl: create fleet green (clone of blue)" {
		t.Fatalf("last commit %q", msg)
	}
	blueSHA := d.current(hs[0])
	// A plan of green alone: green's hosts only, no scheduler reload.
	out, stderr, code := d.cl(ctx, "-o", "json", "plan", "--cluster", "green")
	var gp struct {
		Fleet   string
		Actions []struct{ Kind, Host, Fleet string }
	}
	if err := json.Unmarshal([]byte(out), &gp); code != 2 || err != nil || gp.Fleet != "green" || len(gp.Actions) != 2 {
		t.Fatalf("cl plan --cluster green: exit %d %v\n%s%s", code, err, out, stderr)
	}
	for _, a := range gp.Actions {
		if a.Kind != "deploy" || a.Fleet != "green" || !strings.HasPrefix(a.Host, "green-") {
			t.Fatalf("cl plan --cluster green planned %+v", a)
		}
	}
	// Apply green alone: its hosts get HEAD, the fleet's SHA is recorded,
	// the cluster's applied SHA stays and no schedule set is published
	// (the switch below is refused until the beat publishes one).
	out = mustCL("apply green", "apply", "--cluster", "green", "--auto-approve")
	head := d.git("rev-parse", "HEAD")
	if !strings.Contains(out, "to fleet green (the cluster stays at nothing, generation 0; scheduler not reloaded)") {
		t.Fatalf("cl apply --cluster green printed:\n%s", out)
	}
	if st, err := (reconcile.DocStore{Docs: d.q}).Load(ctx); err != nil || st.SHA != "" || st.Generation != 0 || st.Fleets["green"].SHA != head || st.Hosts["green-1"].SHA != head {
		t.Fatalf("applied state after cl apply --cluster green: %+v %v", st, err)
	}
	mark("green applied")
	mustCL("deploy green", "host", "deploy", "--cluster", "green") // the seed's line: HEAD again, green only
	mark("green deployed")
	if d.current(hs[2]) != head || d.current(hs[3]) != head || d.current(hs[0]) != blueSHA {
		t.Fatalf("after deploying green: blue-1 runs %s (was %s), green runs %s %s (want %s)", d.current(hs[0]), blueSHA, d.current(hs[2]), d.current(hs[3]), head)
	}
	// The beats' schedule set does not know green yet: the switch is refused.
	if _, stderr, code := d.cl(ctx, "cluster", "switch", "green"); code != 1 || !strings.Contains(stderr, "has no host of fleet green") || !strings.Contains(stderr, "publish the commit") {
		t.Fatalf("switch before the beats know green: exit %d: %s", code, stderr)
	}
	// Destroying the active fleet is refused.
	if _, stderr, code := d.cl(ctx, "cluster", "destroy", "blue"); code != 1 || !strings.Contains(stderr, "active fleet") || !strings.Contains(stderr, "cl cluster switch green") {
		t.Fatalf("destroy the active fleet: exit %d: %s", code, stderr)
	}
	// The ticks are checked from the beat's first: it may not fire yet
	// when the commands above are quick.
	beatFrom := int64(0)
	for deadline := time.Now().Add(10 * time.Second); beatFrom == 0; time.Sleep(100 * time.Millisecond) {
		for tick := range scheduledRuns(t, d, "blue-1", "tick") {
			if beatFrom == 0 || tick < beatFrom {
				beatFrom = tick
			}
		}
		if beatFrom == 0 && time.Now().After(deadline) {
			t.Fatal("the beat ran no tick on blue-1 within 10s")
		}
	}
	beat.signal(syscall.SIGHUP) // the beat publishes cl.yaml with green's hosts

	firstTick := time.Now().Unix()
	var switched string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		out, stderr, code := d.cl(ctx, "cluster", "switch", "green")
		if code == 0 {
			switched = out
			break
		}
		if !strings.Contains(stderr, "has no host of fleet green") || time.Now().After(deadline) {
			t.Fatalf("switch to green: exit %d: %s", code, stderr)
		}
	}
	switchedAt := time.Now().Unix()
	if !strings.Contains(switched, "acknowledged by 1 beat(s)") {
		t.Fatalf("switch printed (want the beat's acknowledgement):\n%s", switched)
	}
	if bs := mustCL("beat status", "beat", "status"); !strings.Contains(bs, "fleet:     green (generation 1, switched at ") {
		t.Fatalf("cl beat status after the switch:\n%s", bs)
	}
	if got := taskHosts(); strings.Join(got, ",") != "green-1,green-2" {
		t.Fatalf("a task after the switch went to %v, want green's hosts", got)
	}
	if got := taskHosts("--cluster", "blue"); strings.Join(got, ",") != "blue-1,blue-2" {
		t.Fatalf("a task with --cluster blue went to %v", got)
	}
	time.Sleep(3 * time.Second)
	var st struct {
		Fleets struct {
			Active string `json:"active"`
			State  struct {
				Gen int64 `json:"generation"`
			} `json:"state"`
			Fleets []struct{ Name, Applied string } `json:"fleets"`
		} `json:"fleets"`
	}
	out, _, _ = d.cl(ctx, "-o", "json", "cluster", "status")
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Fleets.Active != "green" || st.Fleets.State.Gen != 1 {
		t.Fatalf("cluster status after the switch: %+v %v\n%s", st, err, out)
	}
	for _, f := range st.Fleets.Fleets { // green: its own apply; blue: never applied (cl host deploy records nothing)
		if want := map[string]string{"green": head, "blue": ""}[f.Name]; f.Applied != want {
			t.Errorf("cluster status: fleet %s applied %q, want %q", f.Name, f.Applied, want)
		}
	}
	out = mustCL("audit", "-o", "json", "audit", "logs", "--action", "cluster.switch")
	if !strings.Contains(out, `"fleet:green"`) {
		t.Fatalf("the switch is not in the audit trail:\n%s", out)
	}
	backAt := time.Now().Unix()
	mustCL("switch back to blue", "cluster", "switch", "blue")
	time.Sleep(2500 * time.Millisecond)
	againAt := time.Now().Unix()
	mustCL("switch to green again", "cluster", "switch", "green")
	time.Sleep(2500 * time.Millisecond)
	lastTick := time.Now().Unix() - 1

	// Every tick once, on one fleet: blue until the first switch, green
	// after it, blue after the switch back, green again.
	fleetOf := map[string]string{"blue-1": "blue", "blue-2": "blue", "green-1": "green", "green-2": "green"}
	count := map[int64]map[string]int{}
	for h, f := range fleetOf {
		for tick, n := range scheduledRuns(t, d, h, "tick") {
			if count[tick] == nil {
				count[tick] = map[string]int{}
			}
			count[tick][f] += n
		}
	}
	want := func(s int64) string {
		switch {
		case s > againAt+1:
			return "green"
		case s > backAt+1 && s < againAt:
			return "blue"
		case s > switchedAt+1 && s < backAt:
			return "green"
		case s < firstTick:
			return "blue"
		}
		return "" // within a second of a switch: either fleet, once
	}
	for s := max(firstTick-1, beatFrom); s <= lastTick; s++ {
		c := count[s]
		one := (c["blue"] == 2 && c["green"] == 0) || (c["blue"] == 0 && c["green"] == 2)
		if !one {
			t.Errorf("tick %d: %d runs on blue, %d on green; want 2 on exactly one fleet", s, c["blue"], c["green"])
		} else if w := want(s); w != "" && c[w] != 2 {
			t.Errorf("tick %d fired on the wrong fleet: blue %d, green %d, want %s", s, c["blue"], c["green"], w)
		}
	}

	mark("ticks counted")
	// Destroy blue: workers stopped, queues and hosts gone.
	out = mustCL("destroy blue", "cluster", "destroy", "blue", "--purge-releases")
	if !strings.Contains(out, "stopped and disabled the worker on blue-1") {
		t.Fatalf("destroy printed:\n%s", out)
	}
	if text := readFile(t, d.cfg); strings.Contains(text, "blue-1") || !strings.Contains(text, "green-1") {
		t.Fatalf("cl.yaml after destroy blue:\n%s", text)
	}
	if keys := redisKeys(t, d.redis, "cl:e2e:default:{host:blue-1}"); len(keys) != 0 {
		t.Fatalf("blue-1's queue keys left: %v", keys)
	}
	if keys := redisKeys(t, d.redis, "cl:e2e:default:{"+queue.FleetQueue("role:web", "blue")+"}"); len(keys) != 0 {
		t.Fatalf("blue's role queue keys left: %v", keys)
	}
	for _, h := range hs[:2] {
		if d.superviseStatus(h) != 3 {
			t.Errorf("the worker's supervisor on %s still runs after destroy", h.Name)
		}
		if len(d.releases(h)) != 0 {
			t.Errorf("destroy --purge-releases left releases on %s: %v", h.Name, d.releases(h))
		}
	}
	if hb, ok, _ := d.q.Worker(ctx, "green-1"); !ok || hb.SHA != head {
		t.Fatalf("green-1's worker after destroying blue: %+v %v", hb, ok)
	}
}

// scheduledRuns counts host's runs of schedule by tick (unix seconds), from
// the run records (done runs leave the stream, their records stay).
func scheduledRuns(t *testing.T, d *deployFleet, host, schedule string) map[int64]int {
	t.Helper()
	prefix := "cl:e2e:default:{" + queue.HostQueue(host) + "}:run:"
	out := map[int64]int{}
	for _, key := range redisKeys(t, d.redis, prefix) {
		r, err := d.q.Get(context.Background(), strings.TrimPrefix(key, prefix))
		if err != nil {
			t.Fatal(err)
		}
		if r.ScheduleID == schedule {
			out[r.Tick.Unix()]++
		}
	}
	return out
}
