package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/agent"
	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/queue/queuetest"
	"github.com/celeroot/celeroot/reconcile"
)

// TestClusterInitCLI: cl cluster init creates the tree and its first
// commit, and refuses an existing cl.yaml and a used namespace.
func TestClusterInitCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("needs redis-server")
	}
	srv := queuetest.StartRedis(t)
	dir := filepath.Join(t.TempDir(), "shop")
	out, stderr, code := cl(t, "cluster", "init", dir, "--redis", srv.URL())
	if code != 0 || !strings.Contains(out, "cluster shop: git repository with commit") || !strings.Contains(out, "environments/dev.yaml") {
		t.Fatalf("init: %d\n%s\n%s", code, out, stderr)
	}
	log, err := exec.Command("git", "-C", dir, "log", "--oneline").Output()
	if err != nil || !strings.Contains(string(log), "cl cluster init: shop") || strings.Count(string(log), "\n") != 1 {
		t.Errorf("git log: %q %v", log, err)
	}
	if _, stderr, code := cl(t, "-c", filepath.Join(dir, "cl.yaml"), "config", "validate"); code != 0 {
		t.Errorf("the new cl.yaml does not validate: %s", stderr)
	}
	// Its init record is in the new cluster's audit trail.
	if out, _, _ := cl(t, "-c", filepath.Join(dir, "cl.yaml"), "audit", "logs"); !strings.Contains(out, "cluster.init") {
		t.Errorf("audit logs: %s", out)
	}
	if _, stderr, code := cl(t, "cluster", "init", dir, "--redis", srv.URL()); code != 1 || !strings.Contains(stderr, "already holds cl.yaml") {
		t.Errorf("init over cl.yaml: %d %s", code, stderr)
	}
	other := filepath.Join(t.TempDir(), "other")
	_, stderr, code = cl(t, "cluster", "init", other, "--name", "shop", "--redis", srv.URL())
	if code != 1 || !strings.Contains(stderr, "cl:shop:default:") || !strings.Contains(stderr, "an audit trail") || !strings.Contains(stderr, "--force") {
		t.Errorf("init of a used name: %d %s", code, stderr)
	}
	if _, err := os.Stat(other); err == nil {
		t.Errorf("refused init created %s", other)
	}
}

// TestClusterBackupRestoreCLI: state written through the queue and
// reconcile APIs (an apply recorded, a bad SHA, a worker heartbeat) is
// backed up, the namespace flushed, and restore brings back what cl
// cluster status shows; a truncated backup changes nothing.
func TestClusterBackupRestoreCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("needs redis-server")
	}
	ctx := context.Background()
	srv := queuetest.StartRedis(t)
	dir := filepath.Join(t.TempDir(), "shop")
	if _, stderr, code := cl(t, "cluster", "init", dir, "--redis", srv.URL()); code != 0 {
		t.Fatal(stderr)
	}
	cfgPath := filepath.Join(dir, "cl.yaml")
	head := strings.TrimSpace(string(must1(exec.Command("git", "-C", dir, "rev-parse", "HEAD").Output())))
	q, err := queue.Open(ctx, srv.URL(), queue.Namespace{Cluster: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	store := reconcile.DocStore{Docs: q}
	st, err := store.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Record(ctx, reconcile.Outcome{Expect: st.Generation, SHA: head, OK: true, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := q.Heartbeat(ctx, queue.Heartbeat{Host: "local", Role: "default", SHA: head, Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	lastApply := func() *agent.LastApply {
		out, stderr, _ := cl(t, "-c", cfgPath, "-o", "json", "cluster", "status")
		var cs agent.ClusterStatus
		if err := json.Unmarshal([]byte(out), &cs); err != nil {
			t.Fatalf("cluster status: %v\n%s\n%s", err, out, stderr)
		}
		return cs.Apply
	}
	if la := lastApply(); la.SHA != head || la.Generation != 1 {
		t.Fatalf("before: %+v", la)
	}
	file := filepath.Join(t.TempDir(), "shop.clcluster.gz")
	if out, stderr, code := cl(t, "-c", cfgPath, "cluster", "backup", "--out", file); code != 0 || !strings.Contains(out, "applied "+head[:12]) {
		t.Fatalf("backup: %d %s %s", code, out, stderr)
	}
	c := queuetest.Client(q)
	keys := c.Keys(ctx, q.Keys().Prefix()+"*").Val()
	c.Del(ctx, keys...)
	if la := lastApply(); la.Result != "none" {
		t.Fatalf("after the flush: %+v", la)
	}
	// The keys and values of the namespace but the audit trail (the refused
	// restore's own record goes there).
	stateKeys := func() string {
		recs, err := q.ExportKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, r := range recs {
			if !strings.Contains(r.Key, "{audit}") {
				r.TTL = 0
				j, _ := json.Marshal(r)
				b.Write(j)
			}
		}
		return b.String()
	}
	before := stateKeys()
	data, _ := os.ReadFile(file)
	cut := filepath.Join(t.TempDir(), "cut.clcluster.gz")
	os.WriteFile(cut, data[:len(data)/2], 0o600)
	if _, stderr, code := cl(t, "-c", cfgPath, "cluster", "restore", cut); code != 1 || !strings.Contains(stderr, "nothing was restored") {
		t.Errorf("truncated restore: %d %s", code, stderr)
	}
	if got := stateKeys(); got != before {
		t.Errorf("a refused restore changed the keys: %s, then %s", before, got)
	}
	if _, stderr, code := cl(t, "-c", cfgPath, "--env", "dev", "cluster", "restore", file); code != 1 || !strings.Contains(stderr, "--force") {
		t.Errorf("restore into another environment: %d %s", code, stderr)
	}
	if out, stderr, code := cl(t, "-c", cfgPath, "cluster", "restore", file); code != 0 || !strings.Contains(out, "restored") {
		t.Fatalf("restore: %d %s %s", code, out, stderr)
	}
	if la := lastApply(); la.SHA != head || la.Generation != 1 || la.Result != "ok" {
		t.Errorf("after restore: %+v", la)
	}
	if ws, _ := q.Workers(ctx); len(ws) != 1 || ws[0].SHA != head {
		t.Errorf("heartbeat after restore: %+v", ws)
	}
}

func must1[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
