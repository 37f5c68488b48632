package queue_test

import (
	"context"
	"os/exec"
	"reflect"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/queue/queuetest"
)

// TestExportImportEveryType: every key type a namespace holds (binary
// values, TTLs, zset infinities, streams with a consumer group and a
// pending entry) comes back equal after export, delete and import, on
// redis-server and on the embedded miniredis of cl dev (no DUMP).
func TestExportImportEveryType(t *testing.T) {
	backends := map[string]queuetest.NewQueue{"miniredis": queuetest.Opener(queuetest.StartMiniredis(t))}
	if _, err := exec.LookPath("redis-server"); err == nil {
		backends["redis-server"] = queuetest.Opener(queuetest.StartRedis(t).URL())
	}
	for name, newQueue := range backends {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			q := newQueue(t)
			c := queuetest.Client(q)
			p := q.Keys().Prefix()
			bin := string([]byte{0, 0xff, 0xfe, 'x', '\n'})
			must(t, c.Set(ctx, p+"s", bin, 0).Err())
			must(t, c.Set(ctx, p+"ttl", "v", 0).Err())
			must(t, c.PExpire(ctx, p+"ttl", 3_600_000_000).Err())
			must(t, c.HSet(ctx, p+"h", "a", "1", "b", bin).Err())
			must(t, c.RPush(ctx, p+"l", "z", "a", "z").Err())
			must(t, c.SAdd(ctx, p+"set", "m1", "m2").Err())
			must(t, c.ZAdd(ctx, p+"z", redis.Z{Score: 1.5, Member: "a"}, redis.Z{Score: -1, Member: "b"}).Err())
			must(t, c.XAdd(ctx, &redis.XAddArgs{Stream: p + "x", ID: "1-1", Values: []string{"run", "r1"}}).Err())
			must(t, c.XAdd(ctx, &redis.XAddArgs{Stream: p + "x", ID: "2-1", Values: []string{"run", "r2"}}).Err())
			must(t, c.XAdd(ctx, &redis.XAddArgs{Stream: p + "x", ID: "3-1", Values: []string{"run", "r3"}}).Err())
			must(t, c.XGroupCreate(ctx, p+"x", "g", "0").Err())
			must(t, c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "w1", Streams: []string{p + "x", ">"}, Count: 2, Block: -1}).Err())
			must(t, c.XAck(ctx, p+"x", "g", "1-1").Err())
			must(t, c.Set(ctx, "other:"+p+"s", "not ours", 0).Err())

			before, err := q.ExportKeys(ctx)
			must(t, err)
			if len(before) != 7 {
				t.Fatalf("exported %d keys, want 7: %+v", len(before), before)
			}
			keys, _ := c.Keys(ctx, p+"*").Result()
			must(t, c.Del(ctx, keys...).Err())
			n, err := q.ImportKeys(ctx, before)
			if err != nil || n != 7 {
				t.Fatalf("import: %d %v", n, err)
			}
			after, err := q.ExportKeys(ctx)
			must(t, err)
			for i := range after { // TTLs count down
				if (before[i].TTL > 0) != (after[i].TTL > 0) || before[i].TTL-after[i].TTL > 60_000 {
					t.Errorf("%s: ttl %d, then %d", before[i].Key, before[i].TTL, after[i].TTL)
				}
				after[i].TTL = before[i].TTL
			}
			if !reflect.DeepEqual(before, after) {
				t.Fatalf("round trip differs:\n%+v\n%+v", before, after)
			}
			if v := c.Get(ctx, p+"s").Val(); v != bin {
				t.Errorf("binary string %q", v)
			}
			// The pending entry is claimable by its consumer; the group
			// reads on after its last delivered id.
			pend := c.XPending(ctx, p+"x", "g").Val()
			if pend.Count != 1 || pend.Consumers["w1"] != 1 {
				t.Errorf("pending after import: %+v", pend)
			}
			next := c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "w2", Streams: []string{p + "x", ">"}, Count: 5, Block: -1}).Val()
			if len(next) != 1 || len(next[0].Messages) != 1 || next[0].Messages[0].ID != "3-1" {
				t.Errorf("next read after import: %+v", next)
			}
		})
	}
}

// TestImportKeysRefusesForeignKeys: a record outside the namespace, or a
// malformed one, is refused before anything is written.
func TestImportKeysRefusesForeignKeys(t *testing.T) {
	ctx := context.Background()
	q := queuetest.Opener(queuetest.StartMiniredis(t))(t)
	c := queuetest.Client(q)
	p := q.Keys().Prefix()
	for name, recs := range map[string][]queue.KeyRecord{
		"outside":  {{Key: p + "a", Type: "string", Value: []byte("1")}, {Key: "cl:other:default:a", Type: "string", Value: []byte("1")}},
		"odd hash": {{Key: p + "a", Type: "string", Value: []byte("1")}, {Key: p + "h", Type: "hash", Items: [][]byte{[]byte("f")}}},
		"bad type": {{Key: p + "a", Type: "string", Value: []byte("1")}, {Key: p + "m", Type: "module"}},
	} {
		if _, err := q.ImportKeys(ctx, recs); err == nil {
			t.Errorf("%s: imported", name)
		}
		if n := c.DBSize(ctx).Val(); n != 0 {
			t.Errorf("%s: %d keys written", name, n)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
