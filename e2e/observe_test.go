package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/observe"
	"github.com/celeroot/celeroot/queue"
)

// TestClusterMonitorLogsMetrics: a fleet of two hosts whose first also
// runs the beat and the agent (in its namespaces, so under its host name),
// a task run a few times, then: cl cluster monitor inside tmux shows the
// hosts and its h key filters them, and the plain form in a pipe has no
// escape; cl cluster logs --host --grep merges the worker's, beat's and
// agent's lines of that host in time order; cl cluster metrics -o json has
// the task's p50/p95/p99, and the agent's /metrics serves the same figures.
func TestClusterMonitorLogsMetrics(t *testing.T) {
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Skip("tmux not installed (apt-get install tmux)")
	}
	CL(t) // built before the clock starts
	start := time.Now()
	d := newDeployFleet(t, 2, "")
	ctx := ctxFor(t, 3*time.Minute)
	h1, h2 := d.f.Hosts[0], d.f.Hosts[1]
	loadChecks(t, d)
	if out, stderr, code := d.cl(ctx, "apply", "--auto-approve"); code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, out, stderr)
	}
	t.Logf("applied after %s", time.Since(start).Round(time.Millisecond))

	// The beat and the agent run on h1 (its network, mount and UTS
	// namespaces: their logs ship under its host name).
	run := t.TempDir()
	startBG(t, "beat on "+h1.Name, h1.Command(ctx, CL(t), "-c", d.cfg, "beat", "--pidfile", filepath.Join(run, "beat.pid"),
		"--id", "beat-"+h1.Name, "--lease", "5s"))
	agentProc := startBG(t, "agent on "+h1.Name, h1.Command(ctx, CL(t), "agent", "--repo", d.dir, "--branch", "main",
		"--listen", h1.Addr+":0", "--state-dir", filepath.Join(run, "agent"), "--interval", "1h", "--drift-interval", "0"))
	api := agentProc.api(t)

	const runs = 3 // × 2 hosts
	for range runs {
		if out, stderr, code := d.cl(ctx, "task", "run", "hello", "--role", "web", "--wait", "--timeout", "60s"); code != 0 {
			t.Fatalf("task run: exit %d\n%s%s", code, out, stderr)
		}
	}
	t.Logf("tasks ran after %s", time.Since(start).Round(time.Millisecond))

	// Logs: worker, beat and agent lines of h1, merged in time order.
	var lines []queue.ProcLine
	waitUntil(t, 30*time.Second, "worker, beat and agent lines of "+h1.Name, func() bool {
		out, stderr, code := d.cl(ctx, "-o", "json", "cluster", "logs", "--host", h1.Name, "--grep", "started|leading")
		if code != 0 {
			t.Fatalf("cluster logs: exit %d\n%s%s", code, out, stderr)
		}
		lines = nil
		kinds := map[string]bool{}
		dec := json.NewDecoder(strings.NewReader(out))
		for dec.More() {
			var l queue.ProcLine
			if err := dec.Decode(&l); err != nil {
				t.Fatalf("cluster logs -o json: %v\n%s", err, out)
			}
			lines = append(lines, l)
			kinds[l.Source.Kind] = true
		}
		return kinds["worker"] && kinds["beat"] && kinds["agent"]
	})
	for i, l := range lines {
		if l.Source.Host != h1.Name || !strings.Contains(l.Text, "started") && !strings.Contains(l.Text, "leading") {
			t.Errorf("line of another host or not matching the grep: %+v", l)
		}
		if i > 0 && l.Time.Before(lines[i-1].Time) {
			t.Errorf("line %d (%s) is older than line %d (%s)", i, l.Time, i-1, lines[i-1].Time)
		}
	}
	out, stderr, code := d.cl(ctx, "cluster", "logs", "--host", h1.Name, "--grep", "started|leading")
	if code != 0 || !strings.Contains(out, "worker:"+h1.Name+"(web)") || !strings.Contains(out, "beat:"+h1.Name) ||
		!strings.Contains(out, "agent:"+h1.Name) || strings.Contains(out, h2.Name) {
		t.Errorf("cluster logs (text): exit %d\n%s%s", code, out, stderr)
	}
	text := strings.Split(strings.TrimSpace(out), "\n")
	if !slices.IsSorted(text) { // lines start with their RFC 3339 time, all in one zone
		t.Errorf("text lines not in time order:\n%s", out)
	}
	t.Logf("cl cluster logs --host %s --grep 'started|leading':\n%s", h1.Name, out)

	// Metrics: the task's quantiles, and the same on the agent's /metrics.
	out, stderr, code = d.cl(ctx, "-o", "json", "cluster", "metrics")
	var m observe.Metrics
	if err := json.Unmarshal([]byte(out), &m); code != 0 || err != nil {
		t.Fatalf("cluster metrics: exit %d, %v\n%s%s", code, err, out, stderr)
	}
	var tm observe.TaskMetrics
	for _, x := range m.Tasks {
		if strings.HasSuffix(x.Task, "hello") {
			tm = x
		}
	}
	q := tm.Time
	if tm.Runs != 2*runs || q.Count != 2*runs || q.P50 <= 0 || q.P50 > q.P95 || q.P95 > q.P99 || q.P99 > q.Max || tm.Failed != 0 {
		t.Fatalf("metrics of hello: %+v (want %d runs with p50 ≤ p95 ≤ p99 ≤ max)", tm, 2*runs)
	}
	t.Logf("hello: %d runs, p50 %s, p95 %s, p99 %s", tm.Runs, q.P50, q.P95, q.P99)
	samples := scrape(t, "http://"+api+"/metrics", "cl_task_")
	for _, c := range []struct {
		key  string
		want float64
	}{
		{fmt.Sprintf(`cl_task_duration_seconds{task="%s",quantile="0.5"}`, tm.Task), q.P50.Seconds()},
		{fmt.Sprintf(`cl_task_duration_seconds{task="%s",quantile="0.95"}`, tm.Task), q.P95.Seconds()},
		{fmt.Sprintf(`cl_task_duration_seconds{task="%s",quantile="0.99"}`, tm.Task), q.P99.Seconds()},
		{fmt.Sprintf(`cl_task_duration_seconds_count{task="%s"}`, tm.Task), float64(q.Count)},
		{fmt.Sprintf(`cl_task_duration_seconds_sum{task="%s"}`, tm.Task), q.Sum.Seconds()},
		{fmt.Sprintf(`cl_task_window_runs{task="%s"}`, tm.Task), float64(tm.Runs)},
		{fmt.Sprintf(`cl_task_failure_rate_percent{task="%s"}`, tm.Task), 0},
	} {
		got, ok := samples[c.key]
		if !ok || math.Abs(got-c.want) > 1e-9 {
			t.Errorf("/metrics %s = %v (present %v), cl cluster metrics says %v", c.key, got, ok, c.want)
		}
	}

	// The monitor in a pipe: plain text, no escape.
	out, stderr, code = d.cl(ctx, "cluster", "monitor", "--count", "1")
	if code != 0 || !strings.HasPrefix(out, "--- ") || !strings.Contains(out, h1.Name) || !strings.Contains(out, h2.Name) ||
		!strings.Contains(out, "beat leader: root@"+h1.Name) || strings.Contains(out, "\x1b") {
		t.Errorf("cluster monitor in a pipe: exit %d\n%q\n%s", code, out, stderr)
	}

	// The monitor on a terminal: tmux, its screen read with capture-pane.
	sock := filepath.Join(run, "tmux.sock")
	tm_ := func(args ...string) (string, error) {
		b, err := exec.CommandContext(ctx, tmux, append([]string{"-S", sock, "-f", "/dev/null"}, args...)...).CombinedOutput()
		return string(b), err
	}
	if out, err := tm_("new-session", "-d", "-s", "mon", "-x", "150", "-y", "50",
		fmt.Sprintf("%s -c %s cluster monitor --probe-every 2s", CL(t), d.cfg)); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	t.Cleanup(func() { _, _ = tm_("kill-server") })
	var screen string
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last monitor screen:\n%s", screen)
		}
	})
	waitUntil(t, 30*time.Second, "the monitor showing both hosts up", func() bool {
		screen, _ = tm_("capture-pane", "-p", "-t", "mon")
		return rowOf(screen, h1.Name) != "" && rowOf(screen, h2.Name) != "" && strings.Contains(rowOf(screen, h2.Name), " up ") &&
			strings.Contains(screen, "beat leader: root@"+h1.Name) && strings.Contains(screen, "agent: root@"+h1.Name)
	})
	t.Logf("monitor in tmux:\n%s", strings.TrimRight(screen, "\n"))
	if _, err := tm_("send-keys", "-t", "mon", "h"); err != nil { // first host in name order
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the host filter", func() bool {
		screen, _ = tm_("capture-pane", "-p", "-t", "mon")
		return strings.Contains(screen, "host="+h1.Name) && rowOf(screen, h1.Name) != "" && rowOf(screen, h2.Name) == ""
	})
	if _, err := tm_("send-keys", "-t", "mon", "q"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the monitor to quit on q", func() bool {
		_, err := tm_("has-session", "-t", "mon")
		return err != nil
	})
	t.Logf("done after %s", time.Since(start).Round(time.Millisecond))
}

// loadChecks makes the web workers load the checks module (task hello).
func loadChecks(t *testing.T, d *deployFleet) {
	t.Helper()
	b, err := os.ReadFile(d.cfg)
	if err != nil {
		t.Fatal(err)
	}
	const web = "workers:\n  web:\n    concurrency: 2\n"
	if !strings.Contains(string(b), web) {
		t.Fatalf("cl.yaml has no %q:\n%s", web, b)
	}
	d.write("cl.yaml", strings.Replace(string(b), web, web+"    tasks: [checks]\n", 1))
	d.commit("web loads checks")
}

// rowOf is host's row in the HOSTS section of a monitor screen.
func rowOf(screen, host string) string {
	in := false
	for _, l := range strings.Split(screen, "\n") {
		l = strings.TrimRight(l, " ")
		switch {
		case l == "HOSTS":
			in = true
		case in && l == "":
			return ""
		case in && strings.HasPrefix(l, host+" "):
			return l + " "
		}
	}
	return ""
}
