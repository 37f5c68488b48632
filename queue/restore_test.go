package queue_test

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/queue/queuetest"
)

// A restore reads and checks the whole file before its first write: a
// refused file leaves the server untouched.
func TestRestoreRefusesTruncatedFileWithoutWriting(t *testing.T) {
	if testing.Short() {
		t.Skip("needs redis-server")
	}
	t.Parallel()
	q := queuetest.Opener(queuetest.StartRedis(t).URL())(t)
	ctx := context.Background()
	rdb := queuetest.Client(q)
	p := q.Keys().Prefix()
	pipe := rdb.Pipeline()
	for i := range 1500 { // three RESTORE batches
		pipe.Set(ctx, fmt.Sprintf("%s{x}:k%04d", p, i), strings.Repeat("v", 64)+fmt.Sprint(i), 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	res, err := q.Snapshot(ctx, dir, 1, time.Date(2026, 1, 1, 4, 0, 0, 0, time.UTC))
	if err != nil || res.Keys != 1500 {
		t.Fatalf("snapshot: %+v, %v", res, err)
	}
	b, err := os.ReadFile(res.File)
	if err != nil {
		t.Fatal(err)
	}
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	for _, cut := range []int{len(b) * 9 / 10, len(b) - 4} { // mid-stream; only the gzip checksum missing
		trunc := filepath.Join(dir, fmt.Sprintf("cut%d.clbackup.gz", cut))
		if err := os.WriteFile(trunc, b[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := q.Restore(ctx, trunc)
		if !errors.Is(err, queue.ErrBackupRefused) || !strings.Contains(err.Error(), "nothing was restored") {
			t.Errorf("restore of a file cut at %d of %d bytes: err = %v, want refused", cut, len(b), err)
		}
		if n := rdb.DBSize(ctx).Val(); n != 0 {
			t.Errorf("restore of a file cut at %d of %d bytes wrote %d keys", cut, len(b), n)
		}
	}
	got, err := q.Restore(ctx, res.File)
	if err != nil || got.Keys != 1500 || rdb.DBSize(ctx).Val() != 1500 {
		t.Errorf("restore of the complete file: %+v, %v, %d keys in Redis", got, err, rdb.DBSize(ctx).Val())
	}
}

// A file with a valid header cannot write keys outside the namespace, nor
// a running beat's lease; a wrong count or trailing data is refused too.
func TestRestoreRefusesAlteredFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("needs redis-server")
	}
	t.Parallel()
	q := queuetest.Opener(queuetest.StartRedis(t).URL())(t)
	ctx := context.Background()
	rdb := queuetest.Client(q)
	p := q.Keys().Prefix()
	if err := rdb.Set(ctx, "scratch", "payload", 0).Err(); err != nil {
		t.Fatal(err)
	}
	dump := []byte(rdb.Dump(ctx, "scratch").Val())
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	header := map[string]any{"format": "celeroot-redis-backup/1", "namespace": q.Namespace().String(), "prefix": p}
	key := func(k string) map[string]any { return map[string]any{"k": k, "v": dump} }
	ours := key(p + "{x}:ours")
	end := func(n int) map[string]any { return map[string]any{"end": true, "keys": n} }
	cases := []struct {
		name  string
		lines []map[string]any
		extra string
		want  string
	}{
		{"foreign key", []map[string]any{header, ours, key("other:cluster:key"), end(2)}, "", `key "other:cluster:key" is outside namespace`},
		{"sibling prefix", []map[string]any{header, ours, key(strings.TrimSuffix(p, ":") + "x:k"), end(2)}, "", "outside namespace"},
		{"beat lease", []map[string]any{header, ours, key(p + "{beat}:leader"), end(2)}, "", "lease or member record"},
		{"no payload", []map[string]any{header, {"k": p + "{x}:empty"}, end(1)}, "", "no DUMP payload"},
		{"count", []map[string]any{header, ours, end(3)}, "", "trailer says 3 keys but the file has 1"},
		{"no trailer", []map[string]any{header, ours}, "", "truncated"},
		{"after trailer", []map[string]any{header, ours, end(1)}, `{"k":"x"}` + "\n", "data after the trailer"},
		{"bad line", []map[string]any{header, ours}, "{not json\n", "line 3"},
	}
	dir := t.TempDir()
	for _, c := range cases {
		file := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".clbackup.gz")
		writeGzipLines(t, file, c.lines, c.extra)
		_, err := q.Restore(ctx, file)
		if !errors.Is(err, queue.ErrBackupRefused) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want refused with %q", c.name, err, c.want)
		}
		if keys := rdb.Keys(ctx, "*").Val(); len(keys) != 0 {
			t.Errorf("%s: refused restore wrote %v", c.name, keys)
		}
	}
	good := filepath.Join(dir, "good.clbackup.gz")
	writeGzipLines(t, good, []map[string]any{header, ours, end(1)}, "")
	if res, err := q.Restore(ctx, good); err != nil || res.Keys != 1 || rdb.Get(ctx, p+"{x}:ours").Val() != "payload" {
		t.Errorf("restore of a hand-made valid file: %+v, %v", res, err)
	}
}

func writeGzipLines(t *testing.T, file string, lines []map[string]any, extra string) {
	t.Helper()
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	enc := json.NewEncoder(zw)
	for _, l := range lines {
		if err := enc.Encode(l); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := zw.Write([]byte(extra)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
