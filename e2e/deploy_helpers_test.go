package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/deploy"
	"github.com/celeroot/celeroot/e2e/testhost"
	"github.com/celeroot/celeroot/queue"
)

// deployFleet is test hosts, a redis-server on their bridge and a config
// repository (a real git repository) describing them.
type deployFleet struct {
	t     *testing.T
	f     *testhost.Fleet
	redis string
	dir   string // the config repository
	cfg   string // its cl.yaml
	q     *queue.Queue
	env   []string // extra environment of cl (CL_DIST)
}

// deploymentYAML is the deployment section of the tests' cl.yaml.
const deploymentYAML = `deployment:
  health_timeout: 10s
  keep_releases: 2
  strategy: all
`

func newDeployFleet(t *testing.T, n int, extra string) *deployFleet {
	t.Helper()
	return newDeployFleetWith(t, n, fleetSetup{extra: extra})
}

// fleetSetup varies the fleet of newDeployFleetWith.
type fleetSetup struct {
	extra    string            // cl.yaml text after the deployment section
	sshExtra string            // lines under ssh:
	hosts    []testhost.Option // how the test hosts run
}

func newDeployFleetWith(t *testing.T, n int, s fleetSetup) *deployFleet {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	// cl's state (the audit mirror) per test: every test's Redis starts a
	// chain of its own.
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	f := testhost.New(t, n, s.hosts...)
	d := &deployFleet{t: t, f: f, dir: t.TempDir()}
	d.redis = StartRedis(t, f.BridgeIP())
	d.cfg = WriteFleetConfig(t, d.dir, f, FleetConfig{RedisAddr: d.redis, Extra: deploymentYAML + s.extra, SSHExtra: s.sshExtra})
	d.write("tasks/checks.yaml", "tasks:\n  hello:\n    description: say hello\n    script: checks/hello.sh\n")
	d.write("tasks/checks/hello.sh", "#!/bin/sh\necho hello\n")
	d.write("tasks/checks/payload.txt", strings.Repeat("some task file content\n", 100))
	d.git("init", "-q", "-b", "main")
	d.commit("fleet")
	q, err := queue.Open(context.Background(), "redis://"+d.redis+"/0", queue.Namespace{Cluster: "e2e"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	d.q = q
	return d
}

func (d *deployFleet) git(args ...string) string {
	d.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = d.dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=e2e", "GIT_AUTHOR_EMAIL=e2e@test", "GIT_COMMITTER_NAME=e2e", "GIT_COMMITTER_EMAIL=e2e@test")
	out, err := cmd.CombinedOutput()
	if err != nil {
		d.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func (d *deployFleet) write(p, content string) {
	d.t.Helper()
	full := filepath.Join(d.dir, p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		d.t.Fatal(err)
	}
	mode := os.FileMode(0o644)
	if strings.HasSuffix(p, ".sh") {
		mode = 0o755
	}
	if err := os.WriteFile(full, []byte(content), mode); err != nil {
		d.t.Fatal(err)
	}
}

func (d *deployFleet) commit(msg string) string {
	d.git("add", "-A")
	d.git("commit", "-q", "-m", msg)
	return d.git("rev-parse", "HEAD")
}

// cl runs cl with -c on the fleet's config.
func (d *deployFleet) cl(ctx context.Context, args ...string) (string, string, int) {
	d.t.Helper()
	cmd := exec.CommandContext(ctx, CL(d.t), append([]string{"-c", d.cfg}, args...)...)
	cmd.Env = append(os.Environ(), d.env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		d.t.Fatalf("run cl %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// deployJSON runs `cl -o json host deploy ARGS` and returns the report and
// the events.
func (d *deployFleet) deployJSON(ctx context.Context, args ...string) (*deploy.Report, []deploy.Event, int, string) {
	d.t.Helper()
	out, stderr, code := d.cl(ctx, append([]string{"-o", "json", "host", "deploy"}, args...)...)
	rep, evs := parseDeployOutput(d.t, out)
	return rep, evs, code, stderr
}

func parseDeployOutput(t *testing.T, out string) (*deploy.Report, []deploy.Event) {
	t.Helper()
	var rep *deploy.Report
	var evs []deploy.Event
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var line struct {
			Type   string         `json:"type"`
			Report *deploy.Report `json:"report"`
			deploy.Event
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("bad JSON line %q: %v", sc.Text(), err)
		}
		switch line.Type {
		case "report":
			rep = line.Report
		case "event":
			evs = append(evs, line.Event)
		}
	}
	return rep, evs
}

// current is the release current points to on h ("" none).
func (d *deployFleet) current(h *testhost.Host) string {
	link, err := os.Readlink(h.Path("/opt/celeroot/current"))
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(link, "releases/")
}

// releases lists h's release directories (staging ones included).
// assertStatRecord checks that the live release of h, version v, has a
// stat record (.celeroot/stat) whose lines for paths are their identity
// as the host's stat prints it now (the drift check then skips them).
func (d *deployFleet) assertStatRecord(h *testhost.Host, v string, paths ...string) {
	d.t.Helper()
	rel := "/opt/celeroot/releases/" + v
	b, err := os.ReadFile(h.Path(rel + "/.celeroot/stat"))
	if err != nil {
		d.t.Fatalf("%s: no stat record: %v", h.Name, err)
	}
	recorded := map[string]string{}
	for i, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if i == 0 {
			if l != "celeroot-stat v1 "+v {
				d.t.Fatalf("%s: stat record header %q", h.Name, l)
			}
			continue
		}
		f := strings.SplitN(l, " ", 5)
		if len(f) != 5 {
			d.t.Fatalf("%s: stat record line %q", h.Name, l)
		}
		recorded[f[4]] = l
	}
	ssh := exec.Command("ssh", append(h.SSHArgs(), "cd "+rel+" && stat -c '%i %s %.9Y %.9Z %n' -- "+strings.Join(paths, " "))...)
	out, err := ssh.Output()
	if err != nil {
		d.t.Fatalf("%s: stat: %v", h.Name, err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.SplitN(l, " ", 5)
		if len(f) != 5 || recorded[f[4]] != l {
			d.t.Errorf("%s: %s recorded as %q, is %q", h.Name, f[len(f)-1], recorded[f[len(f)-1]], l)
		}
	}
}

func (d *deployFleet) releases(h *testhost.Host) []string {
	entries, _ := os.ReadDir(h.Path("/opt/celeroot/releases"))
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// worker is the release h's worker heartbeat reports ("" none).
func (d *deployFleet) worker(h *testhost.Host) string {
	hb, ok, err := d.q.Worker(context.Background(), h.Name)
	if err != nil || !ok {
		return ""
	}
	return hb.SHA
}

// assertCurrentSound checks that current on every host points to a
// complete release.
func (d *deployFleet) assertCurrentSound() {
	d.t.Helper()
	for _, h := range d.f.Hosts {
		cur := d.current(h)
		if cur == "" {
			continue
		}
		if _, err := os.Stat(h.Path("/opt/celeroot/releases/" + cur + "/.celeroot/manifest")); err != nil {
			d.t.Errorf("%s: current -> %s is not a complete release: %v", h.Name, cur, err)
		}
	}
}

// brokenDist makes CL_DIST hold a cl whose worker crashes at once (every
// other command goes to a copy of the real cl that the hosts' login user
// can run), and returns the environment setting.
func (d *deployFleet) brokenDist() string {
	d.t.Helper()
	dir, err := os.MkdirTemp("", "cl-e2e-dist-")
	if err != nil {
		d.t.Fatal(err)
	}
	d.t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	real := filepath.Join(dir, "real-cl")
	data, err := os.ReadFile(CL(d.t))
	if err != nil {
		d.t.Fatal(err)
	}
	if err := os.WriteFile(real, data, 0o755); err != nil {
		d.t.Fatal(err)
	}
	bin := filepath.Join(dir, "cl_linux_amd64", "cl")
	os.MkdirAll(filepath.Dir(bin), 0o755)
	script := fmt.Sprintf("#!/bin/sh\nif [ \"$1\" = worker ]; then echo 'worker: simulated crash at start' >&2; exit 1; fi\nexec %s \"$@\"\n", real)
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		d.t.Fatal(err)
	}
	return "CL_DIST=" + dir
}

func hostReport(rep *deploy.Report, name string) deploy.HostReport {
	for _, h := range rep.Hosts {
		if h.Host == name {
			return h
		}
	}
	return deploy.HostReport{}
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// killDuring starts `cl host deploy --all` and SIGKILLs it when the first
// host starts step; it reports whether it killed it.
func (d *deployFleet) killDuring(ctx context.Context, step deploy.Step) bool {
	d.t.Helper()
	cmd := exec.CommandContext(ctx, CL(d.t), "-c", d.cfg, "-o", "json", "host", "deploy", "--all")
	cmd.Env = append(os.Environ(), d.env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		d.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	killed := false
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var ev deploy.Event
		if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Step == step && ev.Status == deploy.StatusStart {
			time.Sleep(100 * time.Millisecond)
			_ = cmd.Process.Kill()
			killed = true
			break
		}
	}
	_ = cmd.Wait()
	return killed
}

// describe renders a report's hosts for failure messages.
func describe(rep *deploy.Report) string {
	if rep == nil {
		return "(no report)"
	}
	var b strings.Builder
	for _, h := range rep.Hosts {
		fmt.Fprintf(&b, "\n  %s: %s at %s: %s (from %s, current %s, worker %s) log %q", h.Host, h.Outcome, h.FailedStep, h.Error, h.From, h.Current, h.Worker, h.LogTail)
	}
	return b.String()
}
