package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/agent"
	"github.com/celeroot/celeroot/deploy"
	"github.com/celeroot/celeroot/drift"
	"github.com/celeroot/celeroot/e2e/testhost"
	"github.com/celeroot/celeroot/queue"
)

// clusterDrift runs `cl -o json cluster drift` and returns its report and
// exit code.
func (d *deployFleet) clusterDrift(ctx context.Context) (*drift.Report, int) {
	d.t.Helper()
	out, stderr, code := d.cl(ctx, "-o", "json", "cluster", "drift")
	var rep drift.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		d.t.Fatalf("cluster drift: exit %d, output is not a report: %v\n%s%s", code, err, out, stderr)
	}
	return &rep, code
}

// clusterStatus runs `cl -o json cluster status`.
func (d *deployFleet) clusterStatus(ctx context.Context) (*agent.ClusterStatus, int) {
	d.t.Helper()
	out, stderr, code := d.cl(ctx, "-o", "json", "cluster", "status")
	var st agent.ClusterStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Tasks == nil {
		d.t.Fatalf("cluster status: exit %d, output is not a status: %v\n%s%s", code, err, out, stderr)
	}
	return &st, code
}

// driftOf returns host's report and its findings as "class kind" words.
func driftOf(t *testing.T, rep *drift.Report, host string) (drift.HostReport, string) {
	t.Helper()
	for _, h := range rep.Hosts {
		if h.Host == host {
			var ks []string
			for _, f := range h.Findings {
				ks = append(ks, string(f.Class)+" "+string(f.Kind))
			}
			return h, strings.Join(ks, ", ")
		}
	}
	t.Fatalf("no host %s in the drift report", host)
	return drift.HostReport{}, ""
}

// TestClusterDriftReconcile: after an apply, hosts are changed by hand: a
// file of the live release and its cl.yaml edited and the worker stopped (web0), `current`
// pointed elsewhere (web1), a file edited on an assess-only host (web2), and
// one host cut off (web3). cl cluster drift exits 2 naming each change;
// cl cluster reconcile repairs web0 and web1, leaves web2 drifted and web3
// unknown; once web2 is put right by hand and web3 is back, drift exits 0.
func TestClusterDriftReconcile(t *testing.T) {
	start := time.Now()
	d := newDeployFleet(t, 4, "")
	t.Logf("fleet up after %s", time.Since(start).Round(time.Millisecond))
	ctx := ctxFor(t, 3*time.Minute)
	h0, h1, h2, h3 := d.f.Hosts[0], d.f.Hosts[1], d.f.Hosts[2], d.f.Hosts[3]
	cfg, err := os.ReadFile(d.cfg)
	if err != nil {
		t.Fatal(err)
	}
	d.write("cl.yaml", strings.Replace(string(cfg), "address: "+h2.Addr+"\n", "address: "+h2.Addr+"\n    assess_only: true\n", 1))
	head := d.commit("web2 is assess-only")
	if out, stderr, code := d.cl(ctx, "apply", "--auto-approve"); code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, out, stderr)
	}
	if rep, code := d.clusterDrift(ctx); code != 0 || rep.Count(drift.StateInSync) != 4 {
		t.Fatalf("drift after the apply: exit %d, %+v", code, rep.Hosts)
	}

	const script = "/opt/celeroot/current/tasks/checks/hello.sh"
	for _, h := range []*testhost.Host{h0, h2} {
		if err := os.WriteFile(h.Path(script), []byte("#!/bin/sh\necho changed by hand\n"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// The worker's configuration in the live release, edited on web0.
	f, err := os.OpenFile(h0.Path("/opt/celeroot/current/cl.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("# edited on the host\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	// As the login user, who runs the supervisor.
	stop := exec.CommandContext(ctx, "ssh", append(h0.SSHArgs(), "/opt/celeroot/current/bin/cl supervise stop celeroot-worker --state-dir /var/lib/celeroot")...)
	if out, err := stop.CombinedOutput(); err != nil {
		t.Fatalf("stop the worker on %s: %v\n%s", h0.Name, err, out)
	}
	t.Logf("tampered after %s", time.Since(start).Round(time.Millisecond))
	link := h1.Path("/opt/celeroot/current")
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("releases/0123456789abcdef0123456789abcdef01234567", link); err != nil {
		t.Fatal(err)
	}
	if err := h3.CutOff(); err != nil {
		t.Fatal(err)
	}

	rep, code := d.clusterDrift(ctx)
	t.Logf("drift after %s", time.Since(start).Round(time.Millisecond))
	if code != 2 {
		t.Fatalf("drift exit %d, want 2", code)
	}
	for _, want := range []struct {
		host     *testhost.Host
		state    drift.State
		findings string
	}{
		{h0, drift.StateDrifted, "drift worker-running, drift worker-config, drift files"},
		{h1, drift.StateDrifted, "drift release"},
		{h2, drift.StateDrifted, "drift files"},
		{h3, drift.StateUnknown, "unknown unreachable"},
	} {
		if h, got := driftOf(t, rep, want.host.Name); h.State != want.state || !strings.HasPrefix(got, want.findings) {
			t.Errorf("%s: %s [%s], want %s [%s]", want.host.Name, h.State, got, want.state, want.findings)
		}
	}
	if h, _ := driftOf(t, rep, h0.Name); !strings.Contains(h.Findings[len(h.Findings)-1].Detail, "tasks/checks/hello.sh (changed)") {
		t.Errorf("%s's files finding does not name the file: %+v", h0.Name, h.Findings)
	}

	out, stderr, code := d.cl(ctx, "cluster", "reconcile", "--dry-run")
	if code != 0 || !strings.Contains(out, "would repair "+h0.Name+" → "+deploy.ShortVersion(head)+", "+h1.Name+" → "+deploy.ShortVersion(head)) ||
		!strings.Contains(out, "left alone: "+h2.Name+" (assess-only)") {
		t.Fatalf("reconcile --dry-run: exit %d\n%s%s", code, out, stderr)
	}
	if d.current(h1) != "0123456789abcdef0123456789abcdef01234567" {
		t.Fatal("the dry run changed a host")
	}
	out, stderr, code = d.cl(ctx, "cluster", "reconcile")
	if code != 0 || !strings.Contains(out, "repaired "+h0.Name) || !strings.Contains(out, "repaired "+h1.Name) || strings.Contains(out, "repaired "+h2.Name) {
		t.Fatalf("reconcile: exit %d\n%s%s", code, out, stderr)
	}
	t.Logf("reconciled after %s", time.Since(start).Round(time.Millisecond))
	if b, _ := os.ReadFile(h0.Path(script)); !strings.Contains(string(b), "echo hello") {
		t.Errorf("%s's script after the repair: %q", h0.Name, b)
	}
	if b, _ := os.ReadFile(h2.Path(script)); !strings.Contains(string(b), "changed by hand") {
		t.Errorf("the assess-only host was repaired: %q", b)
	}
	rep, code = d.clusterDrift(ctx)
	for _, h := range []*testhost.Host{h0, h1} {
		if hr, got := driftOf(t, rep, h.Name); hr.State != drift.StateInSync {
			t.Errorf("%s after the repair: %s [%s]", h.Name, hr.State, got)
		}
	}
	if hr, _ := driftOf(t, rep, h2.Name); code != 2 || hr.State != drift.StateDrifted {
		t.Errorf("the assess-only host after reconcile: %s (exit %d), want drifted (2)", hr.State, code)
	}
	if hr, _ := driftOf(t, rep, h3.Name); hr.State != drift.StateUnknown {
		t.Errorf("the cut-off host after reconcile: %s, want unknown", hr.State)
	}

	st, code := d.clusterStatus(ctx)
	if code != 1 || st.Up != 3 || st.Down != 1 || st.Drifted != 1 || st.Apply == nil || st.Apply.SHA != head || st.Apply.Result != "ok" {
		t.Errorf("status with a host cut off: exit %d, want 1; %d up, %d down, %d drifted, last apply %+v", code, st.Up, st.Down, st.Drifted, st.Apply)
	}

	// web2 put right by hand, web3 back: in sync.
	if err := os.WriteFile(h2.Path(script), []byte("#!/bin/sh\necho hello\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := h3.Restore(); err != nil {
		t.Fatal(err)
	}
	// A heartbeat sent after the cut ended: the one from before it may
	// still be in Redis for the rest of its TTL while the worker's own
	// connection recovers.
	restored := time.Now()
	deadline := restored.Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if hb, ok, _ := d.q.Worker(ctx, h3.Name); ok && hb.SHA == head && hb.Time.After(restored) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if rep, code = d.clusterDrift(ctx); code != 0 {
		t.Errorf("drift at the end: exit %d, want 0: %+v", code, rep.Hosts)
	}
	st, code = d.clusterStatus(ctx)
	queues := map[string]bool{}
	for _, q := range st.Tasks.Queues {
		queues[q.Queue] = true
	}
	if code != 0 || st.Up != 4 || len(st.Tasks.Workers) != 4 || !queues[queue.RoleQueue("web")] || !queues[queue.HostQueue(h0.Name)] {
		t.Errorf("status at the end: exit %d, want 0; %d up, %d workers, queues %v", code, st.Up, len(st.Tasks.Workers), queues)
	}

	out, stderr, code = d.cl(ctx, "cluster", "status")
	if code != 0 || !strings.Contains(out, "4 host(s) up, 0 down, 0 drifted; 4 live worker(s)") ||
		!strings.Contains(out, "last apply: ok "+deploy.ShortVersion(head)) || !strings.Contains(out, queue.RoleQueue("web")) {
		t.Errorf("cluster status: exit %d\n%s%s", code, out, stderr)
	}
	t.Logf("cl cluster status:\n%s", out)

	// A worker heartbeating for a host that is not in cl.yaml is drift.
	if err := d.q.Heartbeat(ctx, queue.Heartbeat{Host: "stray", Role: "web", SHA: head, PID: 4242}); err != nil {
		t.Fatal(err)
	}
	if rep, code = d.clusterDrift(ctx); code != 2 || len(rep.UnknownWorkers) != 1 || rep.UnknownWorkers[0].Got != "stray" {
		t.Errorf("drift with a stray worker: exit %d, unknown workers %+v", code, rep.UnknownWorkers)
	}
}

// TestAgentSelfHeal: the agent checks for drift every --drift-interval; a
// worker stopped by hand is restarted (a corrective repair, reported as
// last_repair and in the metrics), while the same change on an
// assess-only host is reported and left alone.
func TestAgentSelfHeal(t *testing.T) {
	a := newAgentFleet(t)
	ctx := ctxFor(t, 3*time.Minute)
	h0, h2 := a.f.Hosts[0], a.f.Hosts[2]
	cfg, err := os.ReadFile(a.cfg)
	if err != nil {
		t.Fatal(err)
	}
	a.write("cl.yaml", strings.Replace(string(cfg), "address: "+h2.Addr+"\n", "address: "+h2.Addr+"\n    assess_only: true\n", 1))
	head := a.push("db host is assess-only")
	a.startAgent(ctx, "--interval", "1h", "--drift-interval", "2s")
	a.waitStatus(90*time.Second, "first apply", func(s agentStatus) bool { return s.Applied == head })

	for _, h := range []*testhost.Host{h0, h2} {
		stop := exec.CommandContext(ctx, "ssh", append(h.SSHArgs(), "/opt/celeroot/current/bin/cl supervise stop celeroot-worker --state-dir /var/lib/celeroot")...)
		if out, err := stop.CombinedOutput(); err != nil {
			t.Fatalf("stop the worker on %s: %v\n%s", h.Name, err, out)
		}
	}
	var st struct {
		Drift      *drift.Report `json:"drift"`
		LastRepair *struct {
			Result string                     `json:"result"`
			Hosts  map[string]json.RawMessage `json:"hosts"`
			SHA    map[string]string          `json:"sha"`
		} `json:"last_repair"`
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + a.api + "/api/v1/status")
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if st.LastRepair != nil && st.LastRepair.Result == "ok" && st.LastRepair.SHA[h0.Name] == head && st.Drift != nil {
			if hr, _ := driftOf(t, st.Drift, h0.Name); hr.State == drift.StateInSync {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no repair of %s within 60s: last repair %+v", h0.Name, st.LastRepair)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, ok := st.LastRepair.SHA[h2.Name]; ok {
		t.Errorf("the assess-only host was repaired: %+v", st.LastRepair)
	}
	if hr, got := driftOf(t, st.Drift, h2.Name); hr.State != drift.StateDrifted || !strings.Contains(got, "drift worker-running") {
		t.Errorf("the assess-only host: %s [%s], want drifted with its worker stopped", hr.State, got)
	}
	resp, err := http.Get("http://" + a.api + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`cl_agent_repairs_total{result="ok"}`, `cl_agent_repaired_hosts_total{result="ok"} 1`, `cl_agent_drift_hosts{state="drifted"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestClusterDriftSystemd: on a host whose PID 1 is systemd, the worker's
// unit stopped and disabled by hand is drift (not running, not enabled);
// cl cluster reconcile starts and enables it again.
func TestClusterDriftSystemd(t *testing.T) {
	d := newSystemdDeployFleet(t, 1)
	ctx := ctxFor(t, 2*time.Minute)
	h := d.f.Hosts[0]
	if out, stderr, code := d.cl(ctx, "apply", "--auto-approve"); code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, out, stderr)
	}
	systemctl(ctx, h, "disable", "--now", "celeroot-worker")
	rep, code := d.clusterDrift(ctx)
	if hr, got := driftOf(t, rep, h.Name); code != 2 || got != "drift worker-running, drift worker-enabled" {
		t.Fatalf("drift of a disabled unit: exit %d, %s [%s]", code, hr.State, got)
	}
	if out, stderr, code := d.cl(ctx, "cluster", "reconcile"); code != 0 || !strings.Contains(out, "repaired "+h.Name) {
		t.Fatalf("reconcile: exit %d\n%s%s", code, out, stderr)
	}
	if active, enabled := systemctl(ctx, h, "is-active", "celeroot-worker"), systemctl(ctx, h, "is-enabled", "celeroot-worker"); active != "active" || enabled != "enabled" {
		t.Errorf("after reconcile the unit is %s and %s", active, enabled)
	}
	if rep, code = d.clusterDrift(ctx); code != 0 {
		t.Errorf("drift after reconcile: exit %d: %+v", code, rep.Hosts)
	}
}
