package deploy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/hostexec"
	"github.com/celeroot/celeroot/queue"
	gitsync "github.com/celeroot/celeroot/sync"
)

// testRepo is a git repository holding a cl.yaml, made with the git CLI.
type testRepo struct {
	t    *testing.T
	dir  string
	path string // cl.yaml
}

func newRepo(t *testing.T, clYAML string, files map[string]string) *testRepo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	r := &testRepo{t: t, dir: t.TempDir()}
	r.path = filepath.Join(r.dir, "cl.yaml")
	r.git("init", "-q", "-b", "main")
	r.write("cl.yaml", clYAML)
	for p, c := range files {
		r.write(p, c)
	}
	r.commit("initial")
	return r
}

func (r *testRepo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@x", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@x")
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func (r *testRepo) write(p, content string) {
	r.t.Helper()
	full := filepath.Join(r.dir, p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		r.t.Fatal(err)
	}
	mode := os.FileMode(0o644)
	if strings.HasSuffix(p, ".sh") {
		mode = 0o755
	}
	if err := os.WriteFile(full, []byte(content), mode); err != nil {
		r.t.Fatal(err)
	}
}

func (r *testRepo) commit(msg string) string {
	r.git("add", "-A")
	r.git("commit", "-q", "-m", msg)
	return r.git("rev-parse", "HEAD")
}

func (r *testRepo) config() *config.Config {
	r.t.Helper()
	cfg, _, err := config.LoadValid(config.Options{Path: r.path})
	if err != nil {
		r.t.Fatal(err)
	}
	return cfg
}

func (r *testRepo) release(allowDirty bool) *Release {
	r.t.Helper()
	rel, err := fromWorkTree(r.t, WorkTreeOptions{ConfigPath: r.path, AllowDirty: allowDirty})
	if err != nil {
		r.t.Fatal(err)
	}
	return rel
}

// localYAML is a one-host cl.yaml whose host is this machine, deploying to
// target with restarts recorded in marker.
func localYAML(target, restart string, extra string) string {
	return `cluster:
  name: unit
hosts:
  local1:
    role: web
    address: 127.0.0.1
workers:
  web:
    concurrency: 1
deployment:
  target_directory: ` + target + `
  restart_command: ` + restart + `
  health_timeout: 2s
  health_check_url: ` + healthURL(target) + `
  keep_releases: 2
` + extra
}

var (
	healthOnce sync.Once
	healthBase string
)

// healthURL is the health URL of the fake worker of a local host whose
// target directory is target: a real HTTP server (one for the package)
// that answers for the release target's current link points to, the way
// the worker's health answer names its release.
func healthURL(target string) string {
	healthOnce.Do(func() {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			dir := strings.TrimSuffix(r.URL.Path, "/health")
			link, err := os.Readlink(filepath.Join(dir, "current"))
			if err != nil {
				http.Error(w, "no current release", http.StatusServiceUnavailable)
				return
			}
			fmt.Fprintf(w, "ok %s\n", strings.TrimPrefix(link, "releases/"))
		}))
		healthBase = srv.URL
	})
	return healthBase + target + "/health"
}

// fakeWorker stands in for the worker on a local host: its heartbeat
// reports the release current points to, started at the last restart,
// except for releases listed as broken, whose worker never heartbeats.
type fakeWorker struct {
	target, marker string
	mu             sync.Mutex
	broken         map[string]bool
	brokenAll      bool
}

func (f *fakeWorker) Worker(ctx context.Context, host string) (queue.Heartbeat, bool, error) {
	link, err := os.Readlink(filepath.Join(f.target, "current"))
	if err != nil {
		return queue.Heartbeat{}, false, nil
	}
	st, err := os.Stat(f.marker)
	if err != nil {
		return queue.Heartbeat{}, false, nil
	}
	sha := strings.TrimPrefix(link, "releases/")
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.broken[sha] || f.brokenAll {
		return queue.Heartbeat{}, false, nil
	}
	return queue.Heartbeat{Host: host, SHA: sha, PID: int(st.ModTime().UnixNano() % 1e9), Started: st.ModTime(), Time: time.Now()}, true, nil
}

// fakeCL is a bin/cl whose `supervise check` succeeds.
func fakeCL(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "cl")
	if err := os.WriteFile(p, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

type localOpener struct{}

func (localOpener) Open(ctx context.Context, h *config.Host) (hostexec.Host, error) {
	return &hostexec.Local{Name: h.Name}, nil
}

// localEngine returns an engine deploying repo's config to this machine.
func localEngine(t *testing.T, cfg *config.Config, fw *fakeWorker) *Engine {
	return &Engine{Config: cfg, Hosts: localOpener{}, Heartbeats: fw, Binaries: &Binaries{Self: fakeCL(t)}}
}

// openRepo opens the git work tree of configPath with package sync, as
// cmd/cl does; nil when it is not in one.
func openRepo(t *testing.T, configPath string) RepoCommitter {
	t.Helper()
	w, err := gitsync.Open(context.Background(), filepath.Dir(configPath))
	if errors.Is(err, gitsync.ErrNotGit) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// fromWorkTree is FromWorkTree with the work tree of o.ConfigPath.
func fromWorkTree(t *testing.T, o WorkTreeOptions) (*Release, error) {
	t.Helper()
	o.Repo = openRepo(t, o.ConfigPath)
	return FromWorkTree(context.Background(), o)
}
