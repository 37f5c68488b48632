package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/celeroot/celeroot/deploy"
	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/queue/queuetest"
)

// removeProject is a `cl config init` project on url with one more host,
// gone01, reached over SSH on a loopback port where nothing listens: it is
// refused at once, so remove fails fast without --force.
func removeProject(t *testing.T, url string) string {
	t.Helper()
	path := initProject(t)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	host := "hosts:\n  gone01:\n    role: default\n    address: 127.0.0.1\n    connection: ssh\n    ssh:\n      port: " + strconv.Itoa(port) + "\n"
	s := strings.Replace(string(data), "redis://127.0.0.1:6379/0", url, 1)
	s = strings.Replace(s, "timeout: 30s", "timeout: 2s", 1)
	s = strings.Replace(s, "hosts:\n", host, 1)
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := cl(t, "-c", path, "config", "validate"); code != 0 {
		t.Fatalf("test project does not validate: %s", stderr)
	}
	return path
}

func sameFile(t *testing.T, path string, want []byte, what string) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%s changed cl.yaml (%v):\n%s", what, err, got)
	}
}

func TestHostRemoveTakesTheDeployLock(t *testing.T) {
	if testing.Short() {
		t.Skip("needs redis-server")
	}
	srv := queuetest.StartRedis(t)
	path := removeProject(t, srv.URL())
	before, _ := os.ReadFile(path)
	ctx := context.Background()
	q, err := queue.Open(ctx, srv.URL(), queue.Namespace{Cluster: "myfleet"})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()

	// A deploy holds the lock: remove refuses, with the deploy's one-line
	// error, and changes nothing (--force does not override the lock).
	held, err := deploy.AcquireLock(ctx, q, deploy.LockInfo{Version: "0123456789abcdef0123", Command: "cl host deploy --all"})
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"gone01"}, {"gone01", "--force"}, {"gone01", "--purge", "--no-commit"}} {
		_, stderr, code := cl(t, append([]string{"-c", path, "host", "remove"}, args...)...)
		oneLine(t, stderr, code, "cl host deploy --force-unlock "+held.Info.ID)
		for _, want := range []string{"the deploy lock is held", held.Info.Holder, "is deploying 0123456789ab", "since ", "lock id " + held.Info.ID} {
			if !strings.Contains(stderr, want) {
				t.Errorf("remove %v under a held lock: error lacks %q:\n%s", args, want, stderr)
			}
		}
		sameFile(t, path, before, "remove under a held lock")
	}
	if info, _, err := deploy.ReadLock(ctx, q); err != nil || info == nil || info.ID != held.Info.ID {
		t.Fatalf("the deploy's lock was disturbed: %+v %v", info, err)
	}
	if err := held.Release(ctx); err != nil {
		t.Fatal(err)
	}

	// Lock free, host unreachable: remove takes the lock, fails, releases it.
	_, stderr, code := cl(t, "-c", path, "host", "remove", "gone01")
	if code != ExitError || !strings.Contains(stderr, "cl.yaml unchanged") {
		t.Fatalf("remove of an unreachable host: %d %s", code, stderr)
	}
	sameFile(t, path, before, "a failed remove")
	if info, _, err := deploy.ReadLock(ctx, q); err != nil || info != nil {
		t.Fatalf("lock left after a failed remove: %+v %v", info, err)
	}

	// While remove holds the lock, a deploy (or another remove) is refused
	// with remove's command line as the holder.
	mine, err := deploy.AcquireLock(ctx, q, deploy.LockInfo{Command: "cl host remove gone01"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = deploy.AcquireLock(ctx, q, deploy.LockInfo{Version: "abc"})
	if err == nil || !strings.Contains(err.Error(), `is running "cl host remove gone01"`) {
		t.Fatalf("deploy while a remove holds the lock: %v", err)
	}
	mine.Release(ctx)

	// --force unregisters it, under the lock, and releases the lock.
	out, stderr, code := cl(t, "-c", path, "host", "remove", "gone01", "--force")
	if code != 0 || !strings.Contains(out, "removed host gone01") || !strings.Contains(stderr, "may still be running") {
		t.Fatalf("remove --force: %d\n%s\n%s", code, out, stderr)
	}
	if data, _ := os.ReadFile(path); strings.Contains(string(data), "gone01") {
		t.Fatalf("gone01 still in cl.yaml:\n%s", data)
	}
	if info, _, err := deploy.ReadLock(ctx, q); err != nil || info != nil {
		t.Fatalf("lock left after remove --force: %+v %v", info, err)
	}
}

func TestHostRemoveRedisUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "redis://" + l.Addr().String() + "/0"
	l.Close() // nothing listens there now
	path := removeProject(t, url)
	before, _ := os.ReadFile(path)
	_, stderr, code := cl(t, "-c", path, "host", "remove", "gone01", "--force")
	oneLine(t, stderr, code, "redis.url")
	for _, want := range []string{"deploy lock", url, "--no-stop", "cl.yaml and the host unchanged"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("error lacks %q:\n%s", want, stderr)
		}
	}
	sameFile(t, path, before, "remove without Redis")
	// An unknown host is named before Redis is needed.
	_, stderr, code = cl(t, "-c", path, "host", "remove", "nosuch")
	oneLine(t, stderr, code, `no host "nosuch"`)
	// --no-stop touches neither the host nor Redis: it only unregisters.
	out, stderr, code := cl(t, "-c", path, "host", "remove", "gone01", "--no-stop")
	if code != 0 || !strings.Contains(out, "removed host gone01") {
		t.Fatalf("remove --no-stop without Redis: %d %s %s", code, out, stderr)
	}
}
