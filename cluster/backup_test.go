package cluster_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/celeroot/celeroot/cluster"
	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/queue/queuetest"
	"github.com/celeroot/celeroot/reconcile"
)

// backends are the Redis servers the tests run on: the embedded miniredis
// of cl dev always, redis-server when installed.
func backends(t *testing.T) map[string]string {
	out := map[string]string{"miniredis": queuetest.StartMiniredis(t)}
	if _, err := exec.LookPath("redis-server"); err == nil {
		out["redis-server"] = queuetest.StartRedis(t).URL()
	}
	return out
}

func open(t *testing.T, url, name string) *queue.Queue {
	t.Helper()
	q, err := queue.Open(context.Background(), url, queue.Namespace{Cluster: name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Close() })
	return q
}

// fill writes state of every kind into q's namespace: the applied state
// through reconcile's store, a last fire, and keys of every type.
func fill(t *testing.T, q *queue.Queue) {
	t.Helper()
	ctx := context.Background()
	st := reconcile.DocStore{Docs: q}
	s, err := st.Load(ctx)
	must(t, err)
	_, err = st.Record(ctx, reconcile.Outcome{Expect: s.Generation, SHA: "aaaa", OK: true, At: time.Now()})
	must(t, err)
	_, err = st.Record(ctx, reconcile.Outcome{Expect: s.Generation + 1, SHA: "bbbb", Error: "boom", At: time.Now()})
	must(t, err)
	c := queuetest.Client(q)
	p := q.Keys().Prefix()
	must(t, c.HSet(ctx, p+"{beat}:last", "nightly", `{"tick":1}`).Err())
	must(t, c.Set(ctx, p+"str", []byte{0, 1, 0xff}, time.Hour).Err())
	must(t, c.RPush(ctx, p+"list", "a", "b").Err())
	must(t, c.SAdd(ctx, p+"set", "x").Err())
	must(t, c.ZAdd(ctx, p+"zset", redis.Z{Score: 2, Member: "m"}).Err())
	must(t, c.XAdd(ctx, &redis.XAddArgs{Stream: p + "stream", ID: "5-0", Values: []string{"id", "r1"}}).Err())
	must(t, c.XGroupCreate(ctx, p+"stream", "workers", "0").Err())
}

func configDir(t *testing.T) string {
	dir := t.TempDir()
	if _, err := config.InitWith(dir, config.InitOptions{Name: "shop"}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestBackupRestoreRoundTrip: a backup holds the configuration files, the
// applied state and every key; after the keys are gone, restore brings
// them all back, on redis-server and on miniredis.
func TestBackupRestoreRoundTrip(t *testing.T) {
	for name, url := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			q := open(t, url, "shop")
			fill(t, q)
			dir := configDir(t)
			file := filepath.Join(t.TempDir(), "b"+cluster.Ext)
			res, err := cluster.Save(ctx, cluster.Source{Queue: q, Config: os.DirFS(dir), Head: "cafe"}, file, time.Now())
			must(t, err)
			if res.Applied != "aaaa" || res.Files < 4 || res.Keys != 7 {
				t.Fatalf("backup: %+v", res)
			}
			b, err := cluster.Read(file)
			must(t, err)
			if h := b.Header; h.Head != "cafe" || h.Cluster != "shop" || h.Env != "default" || h.State.Generation != 1 ||
				!reflect.DeepEqual(h.State.Bad, []string{"bbbb"}) || h.State.LastFires["nightly"] != `{"tick":1}` {
				t.Errorf("header: %+v", h)
			}
			before, err := q.ExportKeys(ctx)
			must(t, err)
			flush(t, q)
			out := filepath.Join(t.TempDir(), "conf")
			rr, err := cluster.Restore(ctx, q, file, cluster.RestoreOptions{Extract: out})
			must(t, err)
			if rr.Keys != 7 || rr.Applied != "aaaa" || len(rr.Extracted) != res.Files {
				t.Errorf("restore: %+v", rr)
			}
			after, err := q.ExportKeys(ctx)
			must(t, err)
			if len(after) != len(before) {
				t.Fatalf("keys after restore: %d, want %d", len(after), len(before))
			}
			for i := range after {
				after[i].TTL = before[i].TTL
			}
			if !reflect.DeepEqual(before, after) {
				t.Errorf("keys differ after restore")
			}
			st, err := reconcile.DocStore{Docs: q}.Load(ctx)
			if err != nil || st.SHA != "aaaa" || st.Generation != 1 || len(st.Bad) != 1 {
				t.Errorf("applied state after restore: %+v %v", st, err)
			}
			orig, _ := os.ReadFile(filepath.Join(dir, "cl.yaml"))
			got, _ := os.ReadFile(filepath.Join(out, "cl.yaml"))
			if !bytes.Equal(orig, got) {
				t.Errorf("extracted cl.yaml differs")
			}
		})
	}
}

func flush(t *testing.T, q *queue.Queue) {
	c := queuetest.Client(q)
	keys, _ := c.Keys(context.Background(), q.Keys().Prefix()+"*").Result()
	if len(keys) > 0 {
		must(t, c.Del(context.Background(), keys...).Err())
	}
}

// TestRestoreRefusesBadFiles: a truncated file, a flipped byte (in the
// compressed file and in the content under a recomputed gzip), another
// cluster's backup and a file with a key outside the namespace are each
// refused, and Redis is left exactly as it was.
func TestRestoreRefusesBadFiles(t *testing.T) {
	ctx := context.Background()
	url := queuetest.StartMiniredis(t)
	src := open(t, url, "shop")
	fill(t, src)
	good := filepath.Join(t.TempDir(), "good"+cluster.Ext)
	_, err := cluster.Save(ctx, cluster.Source{Queue: src, Config: os.DirFS(configDir(t))}, good, time.Now())
	must(t, err)
	data, _ := os.ReadFile(good)
	plain := gunzip(t, data)

	q := open(t, url, "target")
	must(t, queuetest.Client(q).Set(ctx, q.Keys().Prefix()+"mine", "keep", 0).Err())
	_, err = cluster.Save(ctx, cluster.Source{Queue: q, Config: os.DirFS(configDir(t))}, filepath.Join(t.TempDir(), "t"+cluster.Ext), time.Now())
	must(t, err)
	snapshot := func() []queue.KeyRecord {
		all, err := q.ExportKeys(ctx)
		must(t, err)
		return all
	}
	want := snapshot()

	flipped := bytes.Clone(data)
	flipped[len(flipped)/2] ^= 0x01
	altered := bytes.Replace(plain, []byte(`"list"`), []byte(`"lisT"`), 1)
	cases := map[string][]byte{
		"truncated":       data[:len(data)*2/3],
		"truncated gzip":  gz(t, plain[:len(plain)-40]),
		"flipped byte":    flipped,
		"altered content": gz(t, altered),
		"not gzip":        []byte("hello"),
		"another cluster": data,
	}
	for name, body := range cases {
		f := filepath.Join(t.TempDir(), "x"+cluster.Ext)
		must(t, os.WriteFile(f, body, 0o600))
		_, err := cluster.Restore(ctx, q, f, cluster.RestoreOptions{})
		if !errors.Is(err, cluster.ErrRefused) {
			t.Errorf("%s: %v, want refused", name, err)
		}
		if got := snapshot(); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Redis changed: %d keys", name, len(got))
		}
	}
	// --force loads another cluster's backup into this namespace only.
	res, err := cluster.Restore(ctx, q, good, cluster.RestoreOptions{Force: true})
	if err != nil || res.From != "shop/default" || res.Into != "target/default" || res.Keys != 7 {
		t.Fatalf("forced restore: %+v %v", res, err)
	}
	if n := len(snapshot()); n != len(want)+7 {
		t.Errorf("after the forced restore: %d keys, want %d", n, len(want)+7)
	}
}

func gunzip(t *testing.T, data []byte) []byte {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	must(t, err)
	out, err := io.ReadAll(zr)
	must(t, err)
	return out
}

func gz(t *testing.T, data []byte) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, err := zw.Write(data)
	must(t, err)
	must(t, zw.Close())
	return b.Bytes()
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
