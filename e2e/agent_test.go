package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/celeroot/celeroot/deploy"
)

// gitDaemon serves the bare repositories under a directory over git://.
type gitDaemon struct {
	base string
	port int
}

func startGitDaemon(t *testing.T) *gitDaemon {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	g := &gitDaemon{base: t.TempDir(), port: port}
	cmd := exec.Command("git", "daemon", "--export-all", "--base-path="+g.base, "--reuseaddr",
		"--listen=127.0.0.1", "--port="+strconv.Itoa(port), g.base)
	// Its own process group, so that the processes it forks per
	// connection go with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("git daemon: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			c.Close()
			return g
		}
		if time.Now().After(deadline) {
			t.Fatalf("git daemon did not listen on %d: %v", port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (g *gitDaemon) url(name string) string {
	return fmt.Sprintf("git://127.0.0.1:%d/%s", g.port, name)
}

// agentFleet is a deploy fleet whose config repository is pushed to a git
// daemon that an agent tracks: hosts h0 and h1 have role web (which loads
// the checks module), h2 role db (which does not).
type agentFleet struct {
	*deployFleet
	git    *gitDaemon
	bare   string
	api    string // the address of the agent a.status asks
	secret string
}

const agentTasks = `tasks:
  hello:
    description: say hello
    script: checks/hello.sh
`

func newAgentFleet(t *testing.T) *agentFleet {
	d := newDeployFleet(t, 3, "")
	var b strings.Builder
	fmt.Fprintf(&b, "cluster:\n  name: e2e\nredis:\n  url: redis://%s/0\n", d.redis)
	fmt.Fprintf(&b, "ssh:\n  default_user: %s\n  default_key: %s\n  known_hosts: %s\n  timeout: 5s\n", d.f.User, d.f.KeyPath, d.f.KnownHostsPath)
	b.WriteString("hosts:\n")
	for i, h := range d.f.Hosts {
		role := "web"
		if i == 2 {
			role = "db"
		}
		fmt.Fprintf(&b, "  %s:\n    role: %s\n    address: %s\n", h.Name, role, h.Addr)
	}
	b.WriteString("workers:\n  web:\n    concurrency: 2\n    tasks: [checks]\n  db:\n    concurrency: 1\n")
	b.WriteString(deploymentYAML)
	b.WriteString("schedules:\n  hello:\n    cron: \"0 1 * * *\"\n    task: checks.hello\n    targets:\n      - role: web\n")
	d.write("cl.yaml", b.String())
	d.write("tasks/checks.yaml", agentTasks)
	d.commit("two roles")
	a := &agentFleet{deployFleet: d, git: startGitDaemon(t), secret: "It's a Secret to Everybody"}
	a.bare = filepath.Join(a.git.base, "fleet.git")
	d.git("clone", "-q", "--bare", d.dir, a.bare)
	d.git("remote", "add", "origin", a.bare)
	return a
}

// push commits the work tree and pushes it to the daemon's repository.
func (a *agentFleet) push(msg string) string {
	a.commit(msg)
	return a.pushHead()
}

// pushHead pushes HEAD to the daemon's repository.
func (a *agentFleet) pushHead() string {
	a.deployFleet.git("push", "-q", "origin", "HEAD:main")
	return a.deployFleet.git("rev-parse", "HEAD")
}

// agentProc is one running `cl agent`.
type agentProc struct {
	cmd *exec.Cmd
	api string // its HTTP address
	out *bytes.Buffer
}

// startAgent runs `cl agent` on the daemon's repository until the test
// ends; the first one started is the one a.status asks.
func (a *agentFleet) startAgent(ctx context.Context, args ...string) *agentProc {
	t := a.t
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(a.secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	argv := append([]string{"--log-level", "debug", "agent", "--repo", a.git.url("fleet.git"), "--branch", "main",
		"--listen", "127.0.0.1:0", "--state-dir", t.TempDir(), "--webhook-secret-file", secretFile}, args...)
	p := &agentProc{cmd: exec.CommandContext(ctx, CL(t), argv...), out: &bytes.Buffer{}}
	p.cmd.Env = append(os.Environ(), a.env...)
	pr, pw := io.Pipe()
	p.cmd.Stderr, p.cmd.Stdout = pw, pw
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(os.Interrupt)
		_ = p.cmd.Wait()
		pw.Close()
		if t.Failed() {
			t.Logf("agent %d output:\n%s", p.cmd.Process.Pid, p.out.String())
		}
	})
	ready := make(chan string, 1)
	re := regexp.MustCompile(`http://([0-9.:]+)/api/v1/status`)
	var mu sync.Mutex
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			mu.Lock()
			p.out.WriteString(line + "\n")
			mu.Unlock()
			if m := re.FindStringSubmatch(line); m != nil {
				select {
				case ready <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case p.api = <-ready:
	case <-time.After(30 * time.Second):
		t.Fatalf("the agent did not start:\n%s", p.out.String())
	}
	if a.api == "" {
		a.api = p.api
	}
	return p
}

// stop interrupts the agent and waits until it has exited (its deferred
// writes done).
func (p *agentProc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatalf("stop the agent: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the agent did not exit within 30 s of an interrupt")
	}
}

// agentStatus is the part of /api/v1/status the tests read.
type agentStatus struct {
	Head       string `json:"head_sha"`
	Applied    string `json:"applied_sha"`
	Generation int64  `json:"generation"`
	PlanError  string `json:"plan_error"`
	LastApply  *struct {
		SHA    string `json:"sha"`
		Result string `json:"result"`
		Error  string `json:"error"`
	} `json:"last_apply"`
	Hosts []struct {
		Host   string `json:"host"`
		State  string `json:"state"`
		Detail string `json:"detail"`
	} `json:"hosts"`
	Deliveries []struct {
		ID      string `json:"id"`
		Outcome string `json:"outcome"`
	} `json:"deliveries"`
}

func (a *agentFleet) status() agentStatus {
	a.t.Helper()
	resp, err := http.Get("http://" + a.api + "/api/v1/status")
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	var st agentStatus
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		a.t.Fatal(err)
	}
	return st
}

// waitStatus polls the status until ok accepts it.
func (a *agentFleet) waitStatus(within time.Duration, what string, ok func(agentStatus) bool) agentStatus {
	a.t.Helper()
	deadline := time.Now().Add(within)
	for {
		st := a.status()
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("%s: not within %s; status %+v", what, within, st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// hook posts a GitHub push delivery for branch, signed with the secret.
func (a *agentFleet) hook(branch string) int {
	a.t.Helper()
	body := []byte(fmt.Sprintf(`{"ref":"refs/heads/%s","after":"0000000000000000000000000000000000000000"}`, branch))
	mac := hmac.New(sha256.New, []byte(a.secret))
	mac.Write(body)
	req, _ := http.NewRequest(http.MethodPost, "http://"+a.api+"/hooks/github", bytes.NewReader(body))
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("d-%d", time.Now().UnixNano()))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (a *agentFleet) currents() []string {
	var out []string
	for _, h := range a.f.Hosts {
		out = append(out, a.current(h))
	}
	return out
}

// TestAgentConverges drives one agent through the life of a config repo:
// the first apply, a task change that reaches one role, a schedule change
// that reaches only the beats, an invalid commit, drift, and a webhook.
func TestAgentConverges(t *testing.T) {
	a := newAgentFleet(t)
	ctx := ctxFor(t, 6*time.Minute)
	first := a.pushHead()
	// Polls are rare: every later change arrives by webhook.
	a.startAgent(ctx, "--interval", "1h", "--drift-interval", "0")
	st := a.waitStatus(60*time.Second, "first apply", func(s agentStatus) bool { return s.Applied == first })
	if st.Generation != 1 {
		t.Errorf("generation %d after the first apply, want 1", st.Generation)
	}
	for i, cur := range a.currents() {
		if cur != first {
			t.Errorf("%s runs %q, want %s", a.f.Hosts[i].Name, cur, first)
		}
		if w := a.worker(a.f.Hosts[i]); w != first {
			t.Errorf("%s worker heartbeats %q, want %s", a.f.Hosts[i].Name, w, first)
		}
	}

	// A task file of the web role: only web hosts get the new release.
	a.write("tasks/checks/hello.sh", "#!/bin/sh\necho hello again\n")
	second := a.push("hello again")
	if code := a.hook("other-branch"); code != http.StatusAccepted {
		t.Fatalf("webhook for another branch: %d, want 202", code)
	}
	if code := a.hook("main"); code != http.StatusAccepted {
		t.Fatalf("webhook: %d, want 202", code)
	}
	a.waitStatus(60*time.Second, "the task change applied", func(s agentStatus) bool { return s.Applied == second })
	if got, want := a.currents(), []string{second, second, first}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("after a web task change hosts run %v, want %v (db does not load the module)", got, want)
	}

	// A schedule's cron: the beats reload, no host is redeployed.
	cfgText, _ := os.ReadFile(a.cfg)
	a.write("cl.yaml", strings.Replace(string(cfgText), `cron: "0 1 * * *"`, `cron: "0 2 * * *"`, 1))
	third := a.push("cron")
	a.hook("main")
	a.waitStatus(60*time.Second, "the cron change applied", func(s agentStatus) bool { return s.Applied == third })
	if got, want := a.currents(), []string{second, second, first}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("after a cron change hosts run %v, want %v (nothing redeployed)", got, want)
	}
	out, _, code := a.cl(ctx, "-o", "json", "beat", "status")
	if code != 0 || !strings.Contains(out, third) {
		t.Errorf("beat status after the reload (exit %d) does not name %s:\n%s", code, third, out)
	}

	// An invalid cl.yaml is reported and not applied; the next good commit is.
	a.write("cl.yaml", string(cfgText)+"bogus_key: 1\n")
	bad := a.push("broken")
	a.hook("main")
	st = a.waitStatus(30*time.Second, "the invalid commit reported", func(s agentStatus) bool { return s.Head == bad && s.PlanError != "" })
	if st.Applied != third || !strings.Contains(st.PlanError, "cl.yaml:") || !strings.Contains(st.PlanError, "bogus_key") {
		t.Errorf("invalid commit: applied %s, plan error %q", st.Applied, st.PlanError)
	}
	a.write("cl.yaml", string(cfgText))
	good := a.push("fixed")
	a.hook("main")
	a.waitStatus(60*time.Second, "the fixed commit applied", func(s agentStatus) bool { return s.Applied == good })

	// The ledger answers "why did my push (not) deploy".
	outcomes := map[string]int{}
	for _, d := range a.status().Deliveries {
		outcomes[d.Outcome]++
	}
	if outcomes["other_branch"] != 1 || outcomes["accepted"]+outcomes["coalesced"] < 4 {
		t.Errorf("webhook ledger outcomes %v", outcomes)
	}
	// Every apply is audited with the commit's author and, after a webhook, its delivery id.
	recs := auditRecords(t, ctx, a.cl, "--action", "agent.apply")
	applied := map[string]auditRecord{}
	for _, r := range recs {
		applied[r.SHA] = r
	}
	for _, sha := range []string{first, second, third, good} {
		r, ok := applied[sha]
		if !ok || r.Result != "ok" || r.Actor.Via != "agent" || r.Actor.Author != "e2e <e2e@test>" {
			t.Errorf("audit record of the apply of %s: %+v (all: %+v)", sha, r, recs)
		}
	}
	if r := applied[second]; !strings.HasPrefix(r.Actor.Delivery, "d-") {
		t.Errorf("the apply after a webhook names no delivery: %+v", r)
	}
	if out, stderr, code := a.cl(ctx, "audit", "verify"); code != 0 {
		t.Errorf("audit verify: exit %d\n%s%s", code, out, stderr)
	}
	a.assertCurrentSound()
}

// TestPlanApply runs the manual path from a checkout: cl plan (exit codes,
// saved plans), cl apply of a saved plan (single-use, stale refused), and
// cl plan --drift-only finding a host changed outside celeroot.
func TestPlanApply(t *testing.T) {
	d := newDeployFleet(t, 2, "")
	ctx := ctxFor(t, 3*time.Minute)
	planFile := filepath.Join(t.TempDir(), "plan.json")
	out, stderr, code := d.cl(ctx, "plan", "--out", planFile)
	if code != 2 || !strings.Contains(out, "(new host") {
		t.Fatalf("first plan: exit %d, want 2 (changes)\n%s%s", code, out, stderr)
	}
	out, stderr, code = d.cl(ctx, "apply", planFile)
	if code != 0 || !strings.Contains(out, "applied") {
		t.Fatalf("apply: exit %d\n%s%s", code, out, stderr)
	}
	head := d.git("rev-parse", "HEAD")
	for _, h := range d.f.Hosts {
		if cur := d.current(h); cur != head {
			t.Errorf("%s runs %q after apply, want %s", h.Name, cur, head)
		}
	}
	if _, stderr, code = d.cl(ctx, "apply", planFile); code != 1 || !strings.Contains(stderr, "stale") {
		t.Errorf("the same plan applied twice: exit %d, stderr %s", code, stderr)
	}
	if out, stderr, code = d.cl(ctx, "plan"); code != 0 || !strings.Contains(out, "no changes") {
		t.Errorf("plan after apply: exit %d, want 0\n%s%s", code, out, stderr)
	}
	// A host whose worker is stopped outside celeroot has drifted.
	h := d.f.Hosts[1]
	if err := os.Remove(h.Path("/opt/celeroot/current")); err != nil {
		t.Fatalf("break %s: %v", h.Name, err)
	}
	out, stderr, code = d.cl(ctx, "-o", "json", "plan", "--drift-only")
	if code != 2 || !strings.Contains(out, `"reason": "drift"`) || !strings.Contains(out, h.Name) {
		t.Fatalf("drift plan: exit %d\n%s%s", code, out, stderr)
	}
	if out, stderr, code = d.cl(ctx, "apply", "--auto-approve"); code != 0 {
		t.Fatalf("apply repairing drift: exit %d\n%s%s", code, out, stderr)
	}
	if cur := d.current(h); cur != head {
		t.Errorf("%s runs %q after the repair, want %s", h.Name, cur, head)
	}
	// Both applies are in the audit trail (the refused one too, as failed), and it verifies.
	recs := auditRecords(t, ctx, d.cl, "--action", "plan")
	if len(recs) != 3 || recs[0].SHA != head || recs[0].Result != "ok" || recs[1].Result != "failed" ||
		recs[2].Result != "ok" || recs[0].Actor.Via != "cli" || recs[0].Actor.Key == "" {
		t.Errorf("audit records of cl apply: %+v", recs)
	}
	if out, stderr, code := d.cl(ctx, "audit", "verify"); code != 0 || !strings.Contains(out, "intact") {
		t.Errorf("audit verify: exit %d\n%s%s", code, out, stderr)
	}
}

// auditRecord is the part of an audit record the e2e tests look at.
type auditRecord struct {
	Seq    int64
	Action string
	SHA    string
	Result string
	Actor  struct{ Via, User, Key, Author, Committer, Delivery string }
}

// auditRecords runs cl audit logs -o json with args.
func auditRecords(t *testing.T, ctx context.Context, cl func(context.Context, ...string) (string, string, int), args ...string) []auditRecord {
	t.Helper()
	out, stderr, code := cl(ctx, append([]string{"-o", "json", "audit", "logs"}, args...)...)
	var recs []auditRecord
	if code != 0 || json.Unmarshal([]byte(out), &recs) != nil {
		t.Fatalf("audit logs: exit %d\n%s%s", code, out, stderr)
	}
	return recs
}

// TestAgentFailures: a host cut off is unknown, its deploy fails, the commit
// is marked bad and nothing is removed; a newer commit applies once it is
// back. Then two agents: one leads; SIGKILLed mid-apply, the other takes
// over and converges with no host left on a half-made release.
func TestAgentFailures(t *testing.T) {
	a := newAgentFleet(t)
	ctx := ctxFor(t, 8*time.Minute)
	first := a.pushHead()
	one := a.startAgent(ctx, "--interval", "1s", "--drift-interval", "0")
	a.waitStatus(60*time.Second, "first apply", func(s agentStatus) bool { return s.Applied == first })

	cut := a.f.Hosts[2]
	if err := cut.CutOff(); err != nil {
		t.Fatal(err)
	}
	a.write("tasks/lib/common.sh", "# shared by every role\n")
	second := a.push("shared file")
	st := a.waitStatus(90*time.Second, "the failed apply recorded", func(s agentStatus) bool {
		return s.LastApply != nil && s.LastApply.SHA == second && s.LastApply.Result == "error"
	})
	if st.Applied != first {
		t.Errorf("applied %s after a failed apply, want %s kept", st.Applied, first)
	}
	states := map[string]string{}
	for _, h := range st.Hosts {
		states[h.Host] = h.State
	}
	if states[cut.Name] != "unknown" || len(st.Hosts) != 3 {
		t.Errorf("host states %v: want %s unknown and no host removed", states, cut.Name)
	}
	if got := a.currents(); got[0] != second || got[1] != second {
		t.Errorf("reachable hosts run %v, want %s", got, second)
	}
	if err := cut.Restore(); err != nil {
		t.Fatal(err)
	}
	a.write("tasks/lib/common.sh", "# shared by every role, v2\n")
	third := a.push("newer")
	a.waitStatus(90*time.Second, "the newer commit applied", func(s agentStatus) bool { return s.Applied == third })
	for i, cur := range a.currents() {
		if cur != third {
			t.Errorf("%s runs %s, want %s", a.f.Hosts[i].Name, cur, third)
		}
	}

	// A second agent stands by; the leader is killed mid-apply.
	two := a.startAgent(ctx, "--interval", "1s", "--drift-interval", "0")
	a.write("tasks/checks/hello.sh", "#!/bin/sh\necho failover\n")
	fourth := a.push("failover")
	deadline := time.Now().Add(60 * time.Second)
	for {
		if info, _, err := deployReadLock(ctx, a); err == nil && info != nil && strings.Contains(info.Command, "agent") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no apply started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := one.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	a.api = two.api
	a.waitStatus(120*time.Second, "the standby agent converged", func(s agentStatus) bool { return s.Applied == fourth })
	if got := a.currents(); got[0] != fourth || got[1] != fourth || got[2] != third {
		t.Errorf("after the failover hosts run %v", got)
	}
	a.assertCurrentSound()
}

func deployReadLock(ctx context.Context, a *agentFleet) (*deploy.LockInfo, time.Duration, error) {
	return deploy.ReadLock(ctx, a.q)
}
