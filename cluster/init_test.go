package cluster_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/celeroot/celeroot/cluster"
	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/queue/queuetest"
)

// TestInit: a new cluster gets the skeleton, environments/dev.yaml and one
// commit; a used namespace, an existing cl.yaml and an unreachable Redis
// are refused with nothing written.
func TestInit(t *testing.T) {
	ctx := context.Background()
	url := queuetest.StartMiniredis(t)
	dir := filepath.Join(t.TempDir(), "shop")
	res, err := cluster.Init(ctx, cluster.InitOptions{Dir: dir, RedisURL: url})
	must(t, err)
	if res.Name != "shop" || len(res.Commit) != 40 || len(res.Checked) != 2 {
		t.Fatalf("init: %+v", res)
	}
	for _, f := range []string{"cl.yaml", "environments/dev.yaml", "tasks/system.yaml"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	out, err := exec.Command("git", "-C", dir, "log", "--format=%H %s").Output()
	if err != nil || strings.TrimSpace(string(out)) != res.Commit+" cl cluster init: shop" {
		t.Errorf("git log: %q %v", out, err)
	}
	if st, _ := exec.Command("git", "-C", dir, "status", "--porcelain").Output(); len(st) > 0 {
		t.Errorf("work tree not clean after init: %s", st)
	}
	if _, err := cluster.Init(ctx, cluster.InitOptions{Dir: dir, RedisURL: url}); err == nil || !strings.Contains(err.Error(), "already holds cl.yaml") {
		t.Errorf("second init in the same directory: %v", err)
	}

	// A namespace in use: a worker heartbeats in shop's dev environment.
	q, err := queue.Open(ctx, url, queue.Namespace{Cluster: "used", Env: "dev"})
	must(t, err)
	defer q.Close()
	must(t, queuetest.Client(q).HSet(ctx, q.Keys().Heartbeat("web1"), "sha", "x").Err())
	other := filepath.Join(t.TempDir(), "used")
	_, err = cluster.Init(ctx, cluster.InitOptions{Dir: other, RedisURL: url})
	if err == nil || !strings.Contains(err.Error(), "cl:used:dev: 1 keys (heartbeats of web1): pick another cluster.name") {
		t.Errorf("used namespace: %v", err)
	}
	if ents, _ := os.ReadDir(other); len(ents) > 0 {
		t.Errorf("refused init wrote %d entries", len(ents))
	}
	if _, err := cluster.Init(ctx, cluster.InitOptions{Dir: other, RedisURL: url, Force: true}); err != nil {
		t.Errorf("--force: %v", err)
	}

	// Redis not there: refused unless the check is skipped.
	dead := filepath.Join(t.TempDir(), "dead")
	_, err = cluster.Init(ctx, cluster.InitOptions{Dir: dead, RedisURL: "redis://127.0.0.1:1/0"})
	if !errors.Is(err, cluster.ErrUnreachable) || !strings.Contains(err.Error(), "--no-redis-check") {
		t.Errorf("unreachable redis: %v", err)
	}
	if _, err := os.Stat(dead); err == nil {
		t.Errorf("refused init created %s", dead)
	}
	if _, err := cluster.Init(ctx, cluster.InitOptions{Dir: dead, RedisURL: "redis://127.0.0.1:1/0", NoRedisCheck: true}); err != nil {
		t.Errorf("--no-redis-check: %v", err)
	}
}
