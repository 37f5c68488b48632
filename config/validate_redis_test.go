package config

import (
	"strings"
	"testing"
	"time"
)

func TestWaitReplicasKeys(t *testing.T) {
	cases := []struct {
		name, redis string
		path, want  string // "" for valid
	}{
		{"off by default", "  url: redis://127.0.0.1:6379/0\n", "", ""},
		{"on with sentinel", "  url: redis-sentinel://s1,s2,s3/0?master=m\n  wait_replicas: 1\n  wait_timeout: 250ms\n", "", ""},
		{"negative", "  wait_replicas: -1\n", "redis.wait_replicas", "out of range 0..16"},
		{"timeout too short", "  wait_replicas: 1\n  wait_timeout: 1ms\n", "redis.wait_timeout", "out of range"},
		{"timeout too long", "  wait_replicas: 1\n  wait_timeout: 2m\n", "redis.wait_timeout", "out of range"},
		{"cluster", "  url: redis-cluster://a:7000,b:7000\n  wait_replicas: 1\n", "redis.wait_replicas", "not supported with Redis Cluster"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, diags := load(t, "redis:\n"+c.redis+base, nil)
			if c.want == "" {
				if len(diags) != 0 {
					t.Fatalf("diagnostics: %v", diags)
				}
				if cfg.Redis.WaitTimeout.D() <= 0 {
					t.Errorf("wait_timeout %v, want a positive default or the value set", cfg.Redis.WaitTimeout)
				}
				return
			}
			for _, d := range diags {
				if d.Path == c.path && strings.Contains(d.Message, c.want) && d.Hint != "" {
					return
				}
			}
			t.Fatalf("want an error at %s containing %q with a hint, got %v", c.path, c.want, diags)
		})
	}
	cfg, _ := load(t, "redis:\n  wait_replicas: 1\n"+base, nil)
	if cfg.Redis.WaitReplicas != 1 || cfg.Redis.WaitTimeout.D() != time.Second {
		t.Errorf("wait_replicas 1 without a timeout: %d, %v; want 1, 1s (the default)", cfg.Redis.WaitReplicas, cfg.Redis.WaitTimeout)
	}
}
