package main

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/queue/queuetest"
)

// fleet is a copy of examples/fleet with an overlay "t" that points
// redis.url at a redis-server started for the test and puts every host on
// loopback, plus a task module "testing" loaded by the webserver role.
type fleet struct {
	path string // cl.yaml
	url  string // redis.url
	dir  string
}

// args prefixes a command with -c and --env.
func (f *fleet) args(args ...string) []string {
	return append([]string{"-c", f.path, "--env", "t"}, args...)
}

const testingModule = `tasks:
  sleep:
    description: Sleep a while (for kill tests)
    params:
      seconds: {type: int, default: 30}
    command: ["/bin/sh", "-c", "echo sleeping; exec sleep \"$CL_PARAM_SECONDS\""]
  fail:
    description: Print to both streams, then fail
    command: ["/bin/sh", "-c", "echo out; echo boom >&2; exit 3"]
  echo:
    description: Print the message
    params:
      msg: {type: string, required: true}
    command: ["/bin/sh", "-c", "printf '%s\\n' \"$CL_PARAM_MSG\""]
`

const overlayTemplate = `cluster:
  name: test
redis:
  url: URL
  backup:
    enabled: false
ssh:
  key_rotation:
    enabled: false
hosts:
  webserver01:
    address: 127.0.0.11
  webserver02:
    address: 127.0.0.12
  dbserver01:
    address: 127.0.0.13
workers:
  webserver:
    tasks: [apt_management, nginx_management, ssl_management, testing]
deployment:
  target_directory: DIR
  restart_command: null
secrets: null
`

// newFleet copies examples/fleet and writes the overlay for redis url.
func newFleet(t *testing.T, url string) *fleet {
	t.Helper()
	dir := t.TempDir()
	copyTree(t, "../../examples/fleet", dir)
	write := func(rel, content string) {
		if err := os.WriteFile(filepath.Join(dir, rel), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("tasks/testing.yaml", testingModule)
	ov := strings.NewReplacer("URL", url, "DIR", filepath.Join(dir, "releases")).Replace(overlayTemplate)
	write("environments/t.yaml", ov)
	return &fleet{path: filepath.Join(dir, "cl.yaml"), url: url, dir: dir}
}

// newRedisFleet starts a redis-server (skipping the test without one) and
// returns a fleet using it.
func newRedisFleet(t *testing.T) *fleet {
	t.Helper()
	srv := queuetest.StartRedis(t)
	return newFleet(t, srv.URL())
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, info.Mode().Perm())
	})
	if err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
}

// load loads the fleet's configuration as cl would.
func (f *fleet) load(t *testing.T) *config.Config {
	t.Helper()
	cfg, _, err := config.LoadValid(config.Options{Path: f.path, Env: "t"})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// queue opens the fleet's queue in the namespace cl uses.
func (f *fleet) queue(t *testing.T) *queue.Queue {
	t.Helper()
	cfg := f.load(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	q, err := queue.Open(ctx, f.url, queue.Namespace{Cluster: cfg.Cluster.Name, Env: "t"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}
