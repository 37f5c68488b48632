package queuetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/celeroot/celeroot/queue/embedded"
)

// RedisServerPath returns the path of redis-server, or skips the test with
// a message naming the Debian package when it is not installed.
func RedisServerPath(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not installed: apt-get install redis-server redis-tools (Debian packages redis-server, redis-tools)")
	}
	return p
}

// RedisServer is a redis-server process started for a test, without
// persistence, on 127.0.0.1.
type RedisServer struct {
	Port int
	dir  string
	cmd  *exec.Cmd
	args []string
}

// StartRedis starts a redis-server on a free port (or skips the test when it
// is not installed) and stops it when the test ends.
func StartRedis(t testing.TB, extra ...string) *RedisServer {
	t.Helper()
	bin := RedisServerPath(t)
	s := &RedisServer{Port: freePort(t, false), dir: t.TempDir()}
	s.args = append([]string{"--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir, "--daemonize", "no"}, extra...)
	s.start(t, bin)
	t.Cleanup(s.Stop)
	return s
}

func (s *RedisServer) start(t testing.TB, bin string) {
	t.Helper()
	s.cmd = exec.Command(bin, s.args...)
	dieWithTest(s.cmd)
	log, err := os.Create(filepath.Join(s.dir, fmt.Sprintf("redis-%d-%d.log", s.Port, time.Now().UnixNano())))
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Stdout, s.cmd.Stderr = log, log
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start redis-server on port %d: %v", s.Port, err)
	}
	waitPing(t, s.Addr(), log.Name())
}

// Addr returns 127.0.0.1:port.
func (s *RedisServer) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

// URL returns the redis:// URL of the server.
func (s *RedisServer) URL() string { return "redis://" + s.Addr() + "/0" }

// Stop kills the server (all data is lost: there is no persistence).
func (s *RedisServer) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}

// Start starts a stopped server again on the same port.
func (s *RedisServer) Start(t testing.TB) {
	t.Helper()
	s.start(t, RedisServerPath(t))
}

// Restart kills the server and starts it again on the same port, after
// down has passed; all data is lost.
func (s *RedisServer) Restart(t testing.TB, down time.Duration) {
	t.Helper()
	s.Stop()
	time.Sleep(down)
	s.start(t, RedisServerPath(t))
}

func waitPing(t testing.TB, addr, logFile string) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logFile)
			t.Fatalf("redis-server on %s did not answer within 10s: %v\n%s", addr, err, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freePort returns a port free on 127.0.0.1; with bus, port+10000 (the
// Redis Cluster bus port) is free too.
func freePort(t testing.TB, bus bool) int {
	t.Helper()
	for range 200 {
		p := 20000 + rand.IntN(30000)
		if !portFree(p) || bus && !portFree(p+10000) {
			continue
		}
		return p
	}
	t.Fatal("no free port found on 127.0.0.1")
	return 0
}

func portFree(p int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// StartCluster starts a 3-master Redis Cluster (redis-server ×3, joined by
// redis-cli --cluster create) and returns its redis-cluster:// URL. It skips
// the test when redis-server or redis-cli is not installed.
func StartCluster(t testing.TB) string {
	t.Helper()
	bin := RedisServerPath(t)
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Skip("redis-cli not installed: apt-get install redis-tools (Debian package redis-tools)")
	}
	dir := t.TempDir()
	var addrs []string
	for range 3 {
		p := freePort(t, true)
		s := &RedisServer{Port: p, dir: dir, args: []string{"--port", strconv.Itoa(p), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no",
			"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, fmt.Sprintf("nodes-%d.conf", p)),
			"--cluster-node-timeout", "2000"}}
		s.start(t, bin)
		t.Cleanup(s.Stop)
		addrs = append(addrs, s.Addr())
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, a := range addrs {
		c := redis.NewClient(&redis.Options{Addr: a})
		for {
			info, err := c.ClusterInfo(context.Background()).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_known_nodes:3") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster node %s not ok within 20s: %v\n%s", a, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
		_ = c.Close()
	}
	return "redis-cluster://" + strings.Join(addrs, ",")
}

// StartMiniredis starts the embedded Redis (miniredis with a real-time
// clock) and returns its URL.
func StartMiniredis(t testing.TB) string {
	t.Helper()
	s, err := embedded.Start("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s.URL()
}
