package queuetest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelMaster is the master name StartSentinelSet monitors.
const SentinelMaster = "clmaster"

// SentinelSet is a primary, a replica and three sentinels on 127.0.0.1,
// started for a test by StartSentinelSet.
type SentinelSet struct {
	Primary, Replica *RedisServer
	Sentinels        []*RedisServer
	// DownAfter is the sentinels' down-after-milliseconds: how long the
	// primary must be unreachable before they start a failover.
	DownAfter time.Duration
}

// StartSentinelSet starts redis-server ×2 (a primary and its replica) and
// redis-sentinel ×3 monitoring them with quorum 2, each on a free port,
// and stops them all when the test ends. It skips the test when
// redis-server or redis-sentinel is not installed. downAfter (default 1s)
// is the sentinels' down-after-milliseconds.
func StartSentinelSet(t testing.TB, downAfter time.Duration) *SentinelSet {
	t.Helper()
	RedisServerPath(t) // skips without redis-server
	sbin, err := exec.LookPath("redis-sentinel")
	if err != nil {
		t.Skip("redis-sentinel not installed: apt-get install redis-sentinel (Debian package redis-sentinel)")
	}
	if downAfter <= 0 {
		downAfter = time.Second
	}
	set := &SentinelSet{DownAfter: downAfter}
	// No 5 s wait before a full sync: a replica (re)joining syncs at once.
	fast := []string{"--repl-diskless-sync-delay", "0"}
	set.Primary = StartRedis(t, fast...)
	set.Replica = StartRedis(t, append(fast, "--replicaof", "127.0.0.1", strconv.Itoa(set.Primary.Port))...)
	set.waitReplicaSynced(t)
	dir := t.TempDir()
	for i := range 3 {
		p := freePort(t, false)
		conf := filepath.Join(dir, fmt.Sprintf("sentinel-%d.conf", i))
		// Sentinels rewrite their file (known replicas, epochs): it must
		// be writable and their own.
		text := fmt.Sprintf("port %d\nbind 127.0.0.1\ndaemonize no\ndir %s\n"+
			"sentinel monitor %s 127.0.0.1 %d 2\n"+
			"sentinel down-after-milliseconds %s %d\n"+
			"sentinel failover-timeout %s 10000\n"+
			"sentinel parallel-syncs %s 1\n",
			p, dir, SentinelMaster, set.Primary.Port, SentinelMaster, downAfter.Milliseconds(), SentinelMaster, SentinelMaster)
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		s := &RedisServer{Port: p, dir: dir, args: []string{conf}}
		s.start(t, sbin)
		t.Cleanup(s.Stop)
		set.Sentinels = append(set.Sentinels, s)
	}
	set.waitSentinelsReady(t)
	return set
}

// URL returns the redis-sentinel:// URL of the set (database 0).
func (s *SentinelSet) URL() string {
	addrs := make([]string, len(s.Sentinels))
	for i, x := range s.Sentinels {
		addrs[i] = x.Addr()
	}
	return "redis-sentinel://" + strings.Join(addrs, ",") + "/0?master=" + SentinelMaster
}

// MasterAddr asks the first sentinel that answers for the master's
// address.
func (s *SentinelSet) MasterAddr(ctx context.Context) (string, error) {
	var last error
	for _, x := range s.Sentinels {
		if x.cmd == nil {
			continue
		}
		c := redis.NewSentinelClient(&redis.Options{Addr: x.Addr(), DialTimeout: 200 * time.Millisecond})
		addr, err := c.GetMasterAddrByName(ctx, SentinelMaster).Result()
		_ = c.Close()
		if err == nil && len(addr) == 2 {
			return addr[0] + ":" + addr[1], nil
		}
		last = err
	}
	return "", fmt.Errorf("no sentinel knows master %s: %v", SentinelMaster, last)
}

// WaitPromoted waits until the sentinels name the replica as master and
// it has taken the role, and returns when that was seen.
func (s *SentinelSet) WaitPromoted(t testing.TB, within time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(within)
	c := redis.NewClient(&redis.Options{Addr: s.Replica.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		addr, err := s.MasterAddr(ctx)
		role := ""
		if err == nil && addr == s.Replica.Addr() {
			info, _ := c.Info(ctx, "replication").Result()
			if strings.Contains(info, "role:master") {
				role = "master"
			}
		}
		cancel()
		if role == "master" {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("sentinels did not promote replica %s within %v (master: %s, %v)", s.Replica.Addr(), within, addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *SentinelSet) waitReplicaSynced(t testing.TB) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Replica.Addr()})
	defer c.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		info, err := c.Info(context.Background(), "replication").Result()
		if err == nil && strings.Contains(info, "master_link_status:up") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica %s did not sync with primary %s within 15s: %v\n%s", s.Replica.Addr(), s.Primary.Addr(), err, info)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitSentinelsReady waits until every sentinel sees the replica and the
// two other sentinels: before that, a failover cannot reach a quorum.
func (s *SentinelSet) waitSentinelsReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for _, x := range s.Sentinels {
		c := redis.NewSentinelClient(&redis.Options{Addr: x.Addr()})
		for {
			m, err := c.Master(context.Background(), SentinelMaster).Result()
			if err == nil && m["num-slaves"] == "1" && m["num-other-sentinels"] == strconv.Itoa(len(s.Sentinels)-1) {
				break
			}
			if time.Now().After(deadline) {
				_ = c.Close()
				t.Fatalf("sentinel %s not ready within 20s (want 1 replica, %d other sentinels): %v %v", x.Addr(), len(s.Sentinels)-1, m, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		_ = c.Close()
	}
}

// RejoinAsReplica starts the killed primary again (empty: there is no
// persistence) as a replica of addr, as an operator brings a failed
// primary back after a failover, and waits until it has synced.
func (s *SentinelSet) RejoinAsReplica(t testing.TB, addr string) {
	t.Helper()
	host, port, ok := strings.Cut(addr, ":")
	if !ok {
		t.Fatalf("rejoin as replica of %q: want host:port", addr)
	}
	s.Primary.Stop()
	s.Primary.args = append(s.Primary.args, "--replicaof", host, port)
	s.Primary.start(t, RedisServerPath(t))
	c := redis.NewClient(&redis.Options{Addr: s.Primary.Addr()})
	defer c.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		info, err := c.Info(context.Background(), "replication").Result()
		if err == nil && strings.Contains(info, "master_link_status:up") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("old primary %s did not sync with %s within 15s: %v\n%s", s.Primary.Addr(), addr, err, info)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
