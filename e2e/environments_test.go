package e2e

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/queue"
)

// redisKeys lists the keys under prefix on the Redis at addr (host:port).
func redisKeys(t *testing.T, addr, prefix string) []string {
	t.Helper()
	host, port, _ := strings.Cut(addr, ":")
	out, err := exec.Command("redis-cli", "-h", host, "-p", port, "--scan", "--pattern", prefix+"*").Output()
	if err != nil {
		t.Fatalf("redis-cli --scan: %v", err)
	}
	keys := strings.Fields(string(out))
	slices.Sort(keys)
	return keys
}

// TestEnvironmentsAreApart deploys one configuration as two environments
// — cl.yaml declares production (host1); environments/staging.yaml swaps
// in host2 — and checks that a staging deploy leaves production's hosts
// and Redis keys as they were, and that each worker heartbeats in its own
// namespace only.
func TestEnvironmentsAreApart(t *testing.T) {
	d := newDeployFleet(t, 2, "")
	h1, h2 := d.f.Hosts[0], d.f.Hosts[1]
	d.write("cl.yaml", strings.Replace(readFile(t, d.cfg), "cluster:\n  name: e2e\n", "cluster:\n  name: e2e\n  environment: production\n", 1))
	d.write("environments/production.yaml", "hosts:\n  "+h2.Name+": null\n")
	d.write("environments/staging.yaml", "hosts:\n  "+h1.Name+": null\n")
	d.commit("two environments")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	if _, _, code, stderr := d.deployJSON(ctx, "--all"); code != 0 {
		t.Fatalf("production deploy (no --env): exit %d: %s", code, stderr)
	}
	prodSHA := d.current(h1)
	if prodSHA == "" || d.current(h2) != "" {
		t.Fatalf("after the production deploy: host1 runs %q, host2 %q; want host1 only", prodSHA, d.current(h2))
	}
	prod := queue.Namespace{Cluster: "e2e", Env: "production"}
	pq, err := queue.Open(ctx, "redis://"+d.redis+"/0", prod)
	if err != nil {
		t.Fatal(err)
	}
	defer pq.Close()
	hb1, ok, err := pq.Worker(ctx, h1.Name)
	if err != nil || !ok || hb1.SHA != prodSHA {
		t.Fatalf("production heartbeat of %s: %+v %v %v, want SHA %s", h1.Name, hb1, ok, err, prodSHA)
	}
	prodKeys := redisKeys(t, d.redis, "cl:e2e:production:")

	d.write("tasks/checks/hello.sh", "#!/bin/sh\necho hello from staging\n")
	stagingSHA := d.commit("staging change")
	h1Before := d.current(h1)
	hb1, _, _ = pq.Worker(ctx, h1.Name)
	if _, _, code, stderr := d.deployJSON(ctx, "--all", "--env", "staging"); code != 0 {
		t.Fatalf("staging deploy: exit %d: %s", code, stderr)
	}
	if got := d.current(h2); got != stagingSHA {
		t.Fatalf("staging host %s runs %q, want %s", h2.Name, got, stagingSHA)
	}
	if got := d.current(h1); got != h1Before {
		t.Fatalf("the staging deploy changed production host %s: %s → %s", h1.Name, h1Before, got)
	}
	if after, ok, _ := pq.Worker(ctx, h1.Name); !ok || after.PID != hb1.PID || after.SHA != hb1.SHA {
		t.Fatalf("production worker on %s changed during the staging deploy: %+v → %+v", h1.Name, hb1, after)
	}
	if got := redisKeys(t, d.redis, "cl:e2e:production:"); !slices.Equal(got, prodKeys) && !subset(got, prodKeys) {
		t.Fatalf("production keys changed during the staging deploy:\nbefore %v\nafter  %v", prodKeys, got)
	}
	if _, ok, _ := pq.Worker(ctx, h2.Name); ok {
		t.Fatalf("staging's worker %s heartbeats in the production namespace", h2.Name)
	}
	sq, err := queue.Open(ctx, "redis://"+d.redis+"/0", queue.Namespace{Cluster: "e2e", Env: "staging"})
	if err != nil {
		t.Fatal(err)
	}
	defer sq.Close()
	if hb, ok, err := sq.Worker(ctx, h2.Name); err != nil || !ok || hb.SHA != stagingSHA {
		t.Fatalf("staging heartbeat of %s: %+v %v %v", h2.Name, hb, ok, err)
	}
	if len(redisKeys(t, d.redis, "cl:e2e:default:")) != 0 {
		t.Fatalf("keys in the default namespace: cl.yaml declares production, nothing should use default")
	}
}

// subset reports whether every key of a is in b (keys that expired are
// not a change made by the other environment).
func subset(a, b []string) bool {
	for _, k := range a {
		if !slices.Contains(b, k) {
			return false
		}
	}
	return true
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
