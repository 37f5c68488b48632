package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/cluster"
	"github.com/celeroot/celeroot/drift"
	"github.com/celeroot/celeroot/queue/queuetest"
)

// TestClusterBackupRestore: with redis.backup.before_apply on, a real cl
// apply to a test host first writes a backup of the state before it; a
// backup taken after the apply, the namespace wiped, and cl cluster
// restore brings the applied state back (cl cluster status and drift see
// the host in sync again); a truncated backup changes nothing.
func TestClusterBackupRestore(t *testing.T) {
	d := newDeployFleet(t, 1, "")
	ctx := ctxFor(t, 2*time.Minute)
	auto := filepath.Join(t.TempDir(), "auto")
	cfg, err := os.ReadFile(d.cfg)
	if err != nil {
		t.Fatal(err)
	}
	d.write("cl.yaml", strings.Replace(string(cfg), "redis:\n", "redis:\n  backup:\n    before_apply: true\n    directory: "+auto+"\n    keep: 2\n", 1))
	head := d.commit("backup before apply")
	if out, stderr, code := d.cl(ctx, "apply", "--auto-approve"); code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, out, stderr)
	}
	pre, _ := filepath.Glob(filepath.Join(auto, "*"+cluster.Ext))
	if len(pre) != 1 {
		t.Fatalf("backups before the apply: %v", pre)
	}
	if b, err := cluster.Read(pre[0]); err != nil || b.Header.Head != head || b.Header.State.Applied != "" {
		t.Fatalf("the backup before the apply: %+v %v", b, err)
	}
	file := filepath.Join(t.TempDir(), "after.clcluster.gz")
	if out, stderr, code := d.cl(ctx, "cluster", "backup", "--out", file); code != 0 {
		t.Fatalf("backup: exit %d\n%s%s", code, out, stderr)
	}

	c := queuetest.Client(d.q)
	c.Del(ctx, c.Keys(ctx, d.q.Keys().Prefix()+"*").Val()...)
	if st, _ := d.clusterStatus(ctx); st.Apply.Result != "none" {
		t.Fatalf("after the wipe: %+v", st.Apply)
	}
	data, _ := os.ReadFile(file)
	cut := filepath.Join(t.TempDir(), "cut.clcluster.gz")
	if err := os.WriteFile(cut, data[:len(data)-10], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := d.cl(ctx, "cluster", "restore", cut); code != 1 || !strings.Contains(stderr, "nothing was restored") {
		t.Fatalf("truncated restore: exit %d %s", code, stderr)
	}
	if st, _ := d.clusterStatus(ctx); st.Apply.Result != "none" {
		t.Fatalf("after the refused restore: %+v", st.Apply)
	}
	if out, stderr, code := d.cl(ctx, "cluster", "restore", file); code != 0 {
		t.Fatalf("restore: exit %d\n%s%s", code, out, stderr)
	}
	st, code := d.clusterStatus(ctx)
	if code != 0 || st.Apply.SHA != head || st.Apply.Result != "ok" {
		t.Fatalf("status after restore: exit %d %+v", code, st.Apply)
	}
	if rep, code := d.clusterDrift(ctx); code != 0 || rep.Count(drift.StateInSync) != 1 {
		t.Fatalf("drift after restore: exit %d %+v", code, rep.Hosts)
	}
}
