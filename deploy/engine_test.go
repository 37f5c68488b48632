package deploy

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/hostexec"
)

type localSetup struct {
	repo   *testRepo
	target string
	fw     *fakeWorker
}

func newLocal(t *testing.T, extra string) *localSetup {
	target := filepath.Join(t.TempDir(), "opt")
	marker := filepath.Join(t.TempDir(), "restarted")
	restart := "'touch " + marker + "'"
	files := map[string]string{"tasks/system.yaml": "tasks: {}\n", "tasks/a/one.sh": "echo one\n", "tasks/a/two.sh": "echo two\n", "README": "hello\n"}
	repo := newRepo(t, localYAML(target, restart, extra), files)
	return &localSetup{repo: repo, target: target, fw: &fakeWorker{target: target, marker: marker, broken: map[string]bool{}}}
}

func (s *localSetup) deploy(t *testing.T) (*Report, error) {
	t.Helper()
	cfg := s.repo.config()
	e := localEngine(t, cfg, s.fw)
	rel := s.repo.release(false)
	return e.Deploy(context.Background(), rel, cfg.Hosts.Values(), Options{})
}

func (s *localSetup) current(t *testing.T) string {
	link, err := os.Readlink(filepath.Join(s.target, "current"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(link, "releases/")
}

func inode(t *testing.T, p string) uint64 {
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Ino
}

func TestLocalDeployDeltaRollbackPrune(t *testing.T) {
	s := newLocal(t, "")
	rep, err := s.deploy(t)
	if err != nil {
		t.Fatalf("first deploy: %v\n%+v", err, rep.Hosts)
	}
	v1 := rep.Version
	h := rep.Hosts[0]
	if h.Outcome != OutcomeDeployed || h.Transfer != "full" || h.FilesSent != 8 || s.current(t) != v1 {
		t.Fatalf("first deploy: %+v", h)
	}
	rel1 := filepath.Join(s.target, "releases", v1)
	for _, p := range []string{"cl.yaml", "tasks/a/one.sh", "bin/cl", ".celeroot/manifest", ".celeroot/worker.yaml"} {
		if _, err := os.Stat(filepath.Join(rel1, p)); err != nil {
			t.Errorf("release lacks %s: %v", p, err)
		}
	}
	checkStatRecord(t, rel1, v1, "cl.yaml", "tasks/a/one.sh", "bin/cl", ".celeroot/worker.yaml")

	// Same version again: nothing to do.
	rep, err = s.deploy(t)
	if err != nil || rep.Hosts[0].Outcome != OutcomeUnchanged {
		t.Fatalf("redeploy: %v %+v", err, rep.Hosts[0])
	}

	// One file changed: one file sent, the rest hard-linked.
	s.repo.write("tasks/a/one.sh", "echo ONE\n")
	v2 := s.repo.commit("change one")
	rep, err = s.deploy(t)
	if err != nil {
		t.Fatalf("second deploy: %v %+v", err, rep.Hosts[0])
	}
	h = rep.Hosts[0]
	if h.Transfer != "delta" || h.FilesSent != 1 || h.FilesLinked != 7 || h.From != v1 || s.current(t) != v2 {
		t.Fatalf("second deploy: %+v", h)
	}
	rel2 := filepath.Join(s.target, "releases", v2)
	if inode(t, filepath.Join(rel1, "bin/cl")) != inode(t, filepath.Join(rel2, "bin/cl")) {
		t.Error("bin/cl was not hard-linked")
	}
	// The linked files are recorded too: unchanged in rel1 since staged.
	checkStatRecord(t, rel2, v2, "bin/cl", "tasks/a/one.sh")
	if inode(t, filepath.Join(rel1, "tasks/a/one.sh")) == inode(t, filepath.Join(rel2, "tasks/a/one.sh")) {
		t.Error("the changed file shares the old inode")
	}
	if b, _ := os.ReadFile(filepath.Join(rel2, "tasks/a/one.sh")); string(b) != "echo ONE\n" {
		t.Errorf("changed file: %q", b)
	}
	if st, _ := os.Stat(filepath.Join(rel2, "tasks/a/two.sh")); st.Mode().Perm() != 0o700 {
		t.Errorf("mode of two.sh: %v", st.Mode())
	}

	// A broken release: rolled back, old release current.
	s.repo.write("README", "broken\n")
	s.repo.git("rm", "-q", "tasks/a/two.sh")
	v3 := s.repo.commit("broken")
	s.fw.broken[v3] = true
	rep, err = s.deploy(t)
	h = rep.Hosts[0]
	if err == nil || h.Outcome != OutcomeRolledBack || h.Rollback == nil || !h.Rollback.Verified || s.current(t) != v2 || h.FilesRemoved != 1 {
		t.Fatalf("broken deploy: %v %+v %+v", err, h, h.Rollback)
	}

	// Two more good releases: keep_releases 2 prunes the oldest.
	s.repo.write("README", "fixed\n")
	v4 := s.repo.commit("fixed")
	if rep, err = s.deploy(t); err != nil {
		t.Fatalf("deploy v4: %v %+v", err, rep.Hosts[0])
	}
	s.repo.write("README", "again\n")
	v5 := s.repo.commit("again")
	if rep, err = s.deploy(t); err != nil {
		t.Fatalf("deploy v5: %v %+v", err, rep.Hosts[0])
	}
	entries, _ := os.ReadDir(filepath.Join(s.target, "releases"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := map[string]bool{v4: true, v5: true}
	if len(names) != 2 || !want[names[0]] || !want[names[1]] {
		t.Fatalf("releases after prune: %v (want %s, %s)", names, v4, v5)
	}
	// Recorded after the pruning, which unlinked bin/cl from the pruned
	// releases (a new ctime).
	checkStatRecord(t, filepath.Join(s.target, "releases", v5), v5, "bin/cl", "README", "cl.yaml")
}

func TestReleaseOfPreparedCommit(t *testing.T) {
	ctx := context.Background()
	repo := newRepo(t, "cluster:\n  name: x\n", map[string]string{"sub/keep.txt": "k\n"})
	before := repo.git("rev-parse", "HEAD")
	git := openRepo(t, repo.path)
	sha, err := git.Prepare(ctx, "cl.yaml", []byte("cluster:\n  name: y\n"), "cl: test")
	if err != nil {
		t.Fatal(err)
	}
	if got := repo.git("rev-parse", "HEAD"); got != before {
		t.Fatalf("HEAD moved before Advance: %s", got)
	}
	rel, err := FromCommit(ctx, git, sha)
	if err != nil {
		t.Fatal(err)
	}
	if f, ok := rel.Lookup("cl.yaml"); !ok || string(f.Data) != "cluster:\n  name: y\n" || rel.Version != sha {
		t.Fatalf("release: %+v", f)
	}
	if _, ok := rel.Lookup("sub/keep.txt"); !ok {
		t.Fatal("other files lost")
	}
	write := func() error { return os.WriteFile(repo.path, []byte("cluster:\n  name: y\n"), 0o644) }
	if err := git.Advance(ctx, before, sha, "cl.yaml", write); err != nil {
		t.Fatal(err)
	}
	if got := repo.git("rev-parse", "HEAD"); got != sha {
		t.Fatalf("HEAD %s, want %s", got, sha)
	}
	if st := repo.git("status", "--porcelain"); st != "" {
		t.Fatalf("work tree not clean after Advance: %q", st)
	}
	if msg := repo.git("log", "-1", "--format=%s"); msg != "cl: test" {
		t.Fatalf("message %q", msg)
	}
	repo.git("fsck", "--strict")
}

func TestLocalSetupFailureKeepsOldRelease(t *testing.T) {
	s := newLocal(t, "  setup_command: [\"/bin/sh\", \"-c\", \"echo setting up in $PWD; test -f first || exit 3\"]\n")
	s.repo.write("first", "")
	s.repo.commit("first")
	if rep, err := s.deploy(t); err != nil {
		t.Fatalf("first: %v %+v", err, rep.Hosts[0])
	}
	v1 := s.current(t)
	s.repo.git("rm", "-q", "first")
	s.repo.commit("setup will fail")
	rep, err := s.deploy(t)
	h := rep.Hosts[0]
	if err == nil || h.Outcome != OutcomeFailed || h.FailedStep != StepSetup || s.current(t) != v1 || h.Current != v1 {
		t.Fatalf("%v %+v", err, h)
	}
	if !strings.Contains(h.SetupOutput, "setting up in "+filepath.Join(s.target, "releases", rep.Version)) {
		t.Fatalf("setup output %q", h.SetupOutput)
	}
}

func TestLocalFirstDeployFailsLeavesNoCurrent(t *testing.T) {
	s := newLocal(t, "")
	rel := s.repo.release(false)
	s.fw.broken[rel.Version] = true
	rep, err := s.deploy(t)
	h := rep.Hosts[0]
	if err == nil || h.Outcome != OutcomeRolledBack || h.Rollback == nil || h.Rollback.To != "" || h.Current != "" {
		t.Fatalf("%v %+v %+v", err, h, h.Rollback)
	}
	if _, err := os.Lstat(filepath.Join(s.target, "current")); !os.IsNotExist(err) {
		t.Fatalf("current after a failed first deploy: %v", err)
	}
}

func TestLocalInterruptedDeployRollsBack(t *testing.T) {
	s := newLocal(t, "")
	if _, err := s.deploy(t); err != nil {
		t.Fatal(err)
	}
	v1 := s.current(t)
	s.repo.write("README", "v2\n")
	v2 := s.repo.commit("v2")
	s.fw.broken[v2] = true // health never passes: we interrupt while waiting
	cfg := s.repo.config()
	e := localEngine(t, cfg, s.fw)
	ctx, cancel := context.WithCancel(context.Background())
	e.Events = func(ev Event) {
		if ev.Step == StepHealth && ev.Status == StatusStart {
			cancel()
		}
	}
	rep, err := e.Deploy(ctx, s.repo.release(false), cfg.Hosts.Values(), Options{})
	h := rep.Hosts[0]
	if !errors.Is(err, context.Canceled) || !rep.Interrupted || h.Outcome != OutcomeCancelled || h.Rollback == nil || s.current(t) != v1 {
		t.Fatalf("%v %+v %+v", err, h, h.Rollback)
	}
}

func TestLocalAddAndRemove(t *testing.T) {
	s := newLocal(t, "")
	// Start from a config without hosts.
	yaml := strings.Replace(localYAML(s.target, "'touch "+s.fw.marker+"'", ""), "hosts:\n  local1:\n    role: web\n    address: 127.0.0.1\n", "", 1)
	s.repo.write("cl.yaml", yaml)
	before := s.repo.commit("no hosts")
	e := localEngine(t, nil, s.fw)
	spec := config.HostSpec{Name: "local1", Role: "web", Address: "127.0.0.1"}
	load := config.Options{Path: s.repo.path}

	// A failing add (the worker never becomes healthy) registers nothing
	// and cleans the host.
	s.fw.mu.Lock()
	s.fw.brokenAll = true
	s.fw.mu.Unlock()
	rep, err := e.Add(context.Background(), AddOptions{Load: load, Spec: spec, Repo: openRepo(t, load.Path), Commit: true, Message: "cl: add host local1 (role web)"})
	if err == nil || rep.Registered || len(rep.Leftovers) > 0 {
		t.Fatalf("failing add: %v %+v", err, rep)
	}
	if got := s.repo.git("rev-parse", "HEAD"); got != before {
		t.Fatal("a failed add moved HEAD")
	}
	if _, err := os.Stat(s.target); !os.IsNotExist(err) {
		entries, _ := os.ReadDir(s.target)
		t.Fatalf("target left behind: %v %v", err, entries)
	}

	s.fw.mu.Lock()
	s.fw.brokenAll = false
	s.fw.mu.Unlock()
	rep, err = e.Add(context.Background(), AddOptions{Load: load, Spec: spec, Repo: openRepo(t, load.Path), Commit: true, Message: "cl: add host local1 (role web)"})
	if err != nil || !rep.Registered || rep.Commit == "" || len(rep.Steps) != 7 {
		t.Fatalf("add: %v %+v", err, rep)
	}
	if head := s.repo.git("rev-parse", "HEAD"); head != rep.Commit || s.current(t) != rep.Commit || rep.Version != rep.Commit {
		t.Fatalf("HEAD %s, current %s, report %+v", head, s.current(t), rep)
	}
	if st := s.repo.git("status", "--porcelain"); st != "" {
		t.Fatalf("dirty after add: %q", st)
	}

	cfg, _, err := config.LoadValid(load)
	if err != nil {
		t.Fatal(err)
	}
	e = localEngine(t, cfg, s.fw) // the configuration as the command loads it, with local1
	rrep, err := e.Remove(context.Background(), RemoveOptions{Load: load, Name: "local1", Repo: openRepo(t, load.Path), Purge: true, Commit: true, Message: "cl: remove host local1"})
	if err != nil || !rrep.Unregistered || !rrep.Purged || rrep.Commit == "" {
		t.Fatalf("remove: %v %+v", err, rrep)
	}
	if _, err := os.Stat(s.target); !os.IsNotExist(err) {
		t.Fatalf("remove --purge left %s: %v", s.target, err)
	}
	if _, err := e.Remove(context.Background(), RemoveOptions{Load: load, Name: "local2"}); err == nil || !strings.Contains(err.Error(), `no host "local2"`) {
		t.Fatalf("removing an unknown host: %v", err)
	}
}

// A release that only adds a file has nothing to drop: everything else is
// linked (an empty drop list once made awk drop everything).
func TestLocalDeployOnlyAddedFile(t *testing.T) {
	s := newLocal(t, "")
	if _, err := s.deploy(t); err != nil {
		t.Fatal(err)
	}
	s.repo.write("tasks/new.txt", "new\n")
	v2 := s.repo.commit("add a file")
	rep, err := s.deploy(t)
	h := rep.Hosts[0]
	if err != nil || h.FilesSent != 1 || h.FilesLinked != 8 || s.current(t) != v2 {
		t.Fatalf("%v %+v", err, h)
	}
	if _, err := os.Stat(filepath.Join(s.target, "releases", v2, "bin/cl")); err != nil {
		t.Fatal(err)
	}
}

// pathHost runs every command with PATH set to dir.
type pathHost struct {
	hostexec.Local
	dir string
}

func (p *pathHost) Run(ctx context.Context, c hostexec.Command) (hostexec.Result, error) {
	env := map[string]string{"PATH": p.dir}
	for k, v := range c.Env {
		env[k] = v
	}
	c.Env = env
	return p.Local.Run(ctx, c)
}

type pathOpener struct{ dir string }

func (o pathOpener) Open(ctx context.Context, h *config.Host) (hostexec.Host, error) {
	return &pathHost{Local: hostexec.Local{Name: h.Name}, dir: o.dir}, nil
}

// toolDir is a PATH directory with this machine's tools, minus skip and
// with fakes (name -> sh script body) instead of the real ones.
func toolDir(t *testing.T, skip string, fakes map[string]string) string {
	bin := t.TempDir()
	for _, dir := range []string{"/usr/bin", "/bin"} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if _, fake := fakes[e.Name()]; e.Name() != skip && !fake {
				os.Symlink(filepath.Join(dir, e.Name()), filepath.Join(bin, e.Name()))
			}
		}
	}
	for name, body := range fakes {
		os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755)
	}
	return bin
}

// deltaWithTools deploys two releases through a host whose PATH is bin
// and checks the second one was linked from the first.
func deltaWithTools(t *testing.T, bin string) {
	s := newLocal(t, "")
	deploy := func() *Report {
		cfg := s.repo.config()
		e := localEngine(t, cfg, s.fw)
		e.Hosts = pathOpener{dir: bin}
		rep, err := e.Deploy(context.Background(), s.repo.release(false), cfg.Hosts.Values(), Options{})
		if err != nil {
			t.Fatalf("%v %+v", err, rep.Hosts[0])
		}
		return rep
	}
	v1 := deploy().Version
	s.repo.write("README", "v2\n")
	v2 := s.repo.commit("v2")
	h := deploy().Hosts[0]
	if h.FilesSent != 1 || h.FilesLinked != 7 || s.current(t) != v2 {
		t.Fatalf("%+v", h)
	}
	m, err := os.ReadFile(filepath.Join(s.target, "releases", v2, ManifestPath))
	if err != nil {
		t.Fatal(err)
	}
	if pm, err := ParseManifest(m); err != nil || len(pm.Entries) != 8 {
		t.Fatalf("manifest: %v", err)
	}
	for _, p := range []string{"bin/cl", "tasks/a/one.sh", "cl.yaml"} {
		if inode(t, filepath.Join(s.target, "releases", v1, p)) != inode(t, filepath.Join(s.target, "releases", v2, p)) {
			t.Errorf("%s not hard-linked", p)
		}
	}
}

// A host without sha256sum gets whole manifests; the release is still
// linked from the base and its files counted against the manifest.
func TestLocalDeployWithoutSHA256Sum(t *testing.T) {
	deltaWithTools(t, toolDir(t, "sha256sum", nil))
}

// Without GNU cp (busybox), files are linked with one ln per directory.
func TestLocalDeployWithoutGNUCp(t *testing.T) {
	deltaWithTools(t, toolDir(t, "", map[string]string{"cp": "exit 1"}))
}

// TestLocalDeployTightensModes: a release is its owner's only, and a
// deploy over a release an older cl left world-readable tightens it (the
// files it links share their inodes with the new release).
func TestLocalDeployTightensModes(t *testing.T) {
	s := newLocal(t, "")
	rep, err := s.deploy(t)
	if err != nil {
		t.Fatal(err)
	}
	rel1 := filepath.Join(s.target, "releases", rep.Version)
	// What an older cl left: 0644 files and 0755 directories.
	filepath.WalkDir(s.target, func(p string, d os.DirEntry, err error) error {
		switch {
		case err != nil || d.Type()&os.ModeSymlink != 0:
		case d.IsDir() || strings.HasSuffix(p, ".sh") || strings.HasSuffix(p, "bin/cl"):
			os.Chmod(p, 0o755)
		default:
			os.Chmod(p, 0o644)
		}
		return nil
	})
	s.repo.write("README", "v2\n")
	v2 := s.repo.commit("v2")
	if rep, err = s.deploy(t); err != nil || s.current(t) != v2 {
		t.Fatalf("second deploy: %v %+v", err, rep.Hosts[0])
	}
	rel2 := filepath.Join(s.target, "releases", v2)
	assertPrivate := func(dir string) {
		t.Helper()
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				t.Fatal(err)
			}
			st, err := os.Lstat(p)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode()&os.ModeSymlink == 0 && st.Mode().Perm()&0o077 != 0 {
				t.Errorf("%s has mode %o: others or the group may read it", p, st.Mode().Perm())
			}
			return nil
		})
	}
	assertPrivate(rel2)
	if st, err := os.Stat(filepath.Join(s.target, "releases")); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("releases/: %v, %v", st, err)
	}
	// Linked from rel1: the same inode, tightened in both.
	if st, err := os.Stat(filepath.Join(rel1, "tasks/a/one.sh")); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("linked file of the old release: %v, %v", st, err)
	}
	if st, err := os.Stat(filepath.Join(rel2, CredentialsPath)); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("credentials: %v, %v", st, err)
	}
}

// A host whose current release has a manifest past the probe's cap fails
// the deploy with an error naming the host and the cap, without reading
// it all; current is left alone.
func TestLocalDeployProbeOutputCapped(t *testing.T) {
	s := newLocal(t, "")
	if rep, err := s.deploy(t); err != nil {
		t.Fatalf("first: %v %+v", err, rep.Hosts[0])
	}
	v1 := s.current(t)
	manifest := filepath.Join(s.target, "releases", v1, ".celeroot", "manifest")
	// A sparse file: cat reads zeros, the disk holds nothing.
	if err := os.Truncate(manifest, maxProbeOutput+1<<20); err != nil {
		t.Fatal(err)
	}
	s.repo.write("README", "changed\n")
	s.repo.commit("second")
	rep, err := s.deploy(t)
	if err == nil {
		t.Fatal("deploy over a huge manifest succeeded")
	}
	h := rep.Hosts[0]
	t.Log(h.Error)
	if h.Outcome != OutcomeFailed || !strings.Contains(h.Error, "67108864 bytes") || !strings.Contains(h.Error, h.Host) || s.current(t) != v1 {
		t.Fatalf("host report %+v, current %s", h, s.current(t))
	}
}

// Check reports current and the heartbeat per host and whether both are
// the wanted release; without heartbeats the worker is "?".
func TestLocalCheck(t *testing.T) {
	s := newLocal(t, "")
	ctx := context.Background()
	cfg := s.repo.config()
	e := localEngine(t, cfg, s.fw)
	v0 := s.repo.release(false).Version
	if got := e.Check(ctx, v0, cfg.Hosts.Values(), 0)[0]; !got.Reachable || got.Current != "" || got.Worker != "" || got.UpToDate || got.Want != v0 {
		t.Fatalf("before any deploy: %+v", got)
	}
	if rep, err := s.deploy(t); err != nil {
		t.Fatalf("deploy: %v %+v", err, rep.Hosts[0])
	}
	if got := e.Check(ctx, v0, cfg.Hosts.Values(), 0)[0]; !got.UpToDate || got.Current != v0 || got.Worker != v0 {
		t.Fatalf("after the deploy: %+v", got)
	}
	s.repo.write("README", "next\n")
	s.repo.commit("next")
	v1 := s.repo.release(false).Version
	if got := e.Check(ctx, v1, cfg.Hosts.Values(), 0)[0]; got.UpToDate || got.Current != v0 || got.Want != v1 {
		t.Fatalf("with a newer commit: %+v", got)
	}
	e.Heartbeats = nil
	if got := e.Check(ctx, v0, cfg.Hosts.Values(), 0)[0]; !got.UpToDate || got.Worker != "?" {
		t.Fatalf("without heartbeats: %+v", got)
	}
}

// commandOnlyOpener opens local hosts that cannot dial (the way a host
// whose sshd refuses TCP forwarding is treated): the health URL is then
// checked by a command on the host, the release's `cl supervise check`.
type commandOnlyOpener struct{}

func (commandOnlyOpener) Open(ctx context.Context, h *config.Host) (hostexec.Host, error) {
	return struct{ hostexec.Host }{&hostexec.Local{Name: h.Name}}, nil
}

// TestLocalHealthByCommandWithoutForwarding deploys with a health URL that
// nothing serves: the deploy is healthy only because, on a host that
// cannot dial, the check runs as a command (fakeCL's `supervise check`
// succeeds); the same deploy through a dialing host fails its health.
func TestLocalHealthByCommandWithoutForwarding(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String() + "/health"
	ln.Close()
	s := newLocal(t, "")
	yml, err := os.ReadFile(s.repo.path)
	if err != nil {
		t.Fatal(err)
	}
	s.repo.write("cl.yaml", strings.Replace(string(yml), "health_check_url: "+healthURL(s.target), "health_check_url: "+dead, 1))
	s.repo.commit("dead health url")
	cfg := s.repo.config()
	e := localEngine(t, cfg, s.fw)
	e.Hosts = commandOnlyOpener{}
	rep, err := e.Deploy(context.Background(), s.repo.release(false), cfg.Hosts.Values(), Options{})
	if err != nil {
		t.Fatalf("deploy through a host that cannot dial: %v\n%+v", err, rep.Hosts)
	}
	s.repo.write("tasks/a/one.sh", "#!/bin/sh\necho two\n")
	s.repo.commit("change")
	e = localEngine(t, s.repo.config(), s.fw)
	rep, err = e.Deploy(context.Background(), s.repo.release(false), cfg.Hosts.Values(), Options{})
	if err == nil || rep.Hosts[0].FailedStep != StepHealth || !strings.Contains(rep.Hosts[0].Error, "connection refused") {
		t.Fatalf("deploy through a dialing host with a dead health URL: %v\n%+v", err, rep.Hosts)
	}
}

func TestCheckCounts(t *testing.T) {
	res := []CheckResult{{Reachable: true, UpToDate: true}, {Reachable: true}, {}, {Reachable: true}}
	if differ, down := CheckCounts(res); differ != 2 || down != 1 {
		t.Errorf("differ %d down %d", differ, down)
	}
	for i, want := range []string{"up to date", "differs", "unreachable", "differs"} {
		if got := res[i].Status(); got != want {
			t.Errorf("%d: %q, want %q", i, got, want)
		}
	}
}

// TestLocalRepairResendsTheRelease: a host that runs the release is left
// alone by a deploy even when a file of it was changed by hand; a repair
// sends the whole release again (nothing linked from the changed copy) and
// restarts the worker.
func TestLocalRepairResendsTheRelease(t *testing.T) {
	s := newLocal(t, "")
	if _, err := s.deploy(t); err != nil {
		t.Fatal(err)
	}
	v := s.current(t)
	file := filepath.Join(s.target, "releases", v, "tasks/a/one.sh")
	if err := os.WriteFile(file, []byte("echo changed by hand\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := s.deploy(t)
	if err != nil || rep.Hosts[0].Outcome != OutcomeUnchanged {
		t.Fatalf("deploy of the running release: %v %+v", err, rep.Hosts[0])
	}
	cfg := s.repo.config()
	rep, err = localEngine(t, cfg, s.fw).Deploy(context.Background(), s.repo.release(false), cfg.Hosts.Values(), Options{Repair: true})
	h := rep.Hosts[0]
	if err != nil || h.Outcome != OutcomeDeployed || h.FilesLinked != 0 || h.Transfer != "full" || s.current(t) != v {
		t.Fatalf("repair: %v %+v", err, h)
	}
	if b, _ := os.ReadFile(file); string(b) != "echo one\n" {
		t.Errorf("after the repair: %q", b)
	}
}
