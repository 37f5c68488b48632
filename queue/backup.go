package queue

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// backupFormat names the snapshot file format (gzip'd JSON lines: a
// header, one line per key with its DUMP payload and PTTL, a trailer).
const backupFormat = "celeroot-redis-backup/1"

// BackupResult describes one snapshot.
type BackupResult struct {
	File    string   `json:"file"`
	Keys    int      `json:"keys"`
	Bytes   int64    `json:"bytes"`
	Removed []string `json:"removed,omitempty"` // older snapshots deleted to keep N
}

type backupHeader struct {
	Format    string    `json:"format"`
	Namespace string    `json:"namespace"`
	Prefix    string    `json:"prefix"`
	Created   time.Time `json:"created"`
}

type backupLine struct {
	Key   string `json:"k,omitempty"`
	PTTL  int64  `json:"t,omitempty"` // ms left at snapshot time; 0 = no expiry
	Value []byte `json:"v,omitempty"` // DUMP payload
	End   bool   `json:"end,omitempty"`
	Keys  int    `json:"keys,omitempty"`
}

// Snapshot writes every key of q's namespace (SCAN by prefix, DUMP and
// PTTL; a running beat's lease and member records excepted) to
// "<dir>/<cluster>-<env>-<time>.clbackup.gz" and deletes the oldest
// snapshots beyond keep. It works against any Redis the queue reaches,
// remote ones and Redis Cluster included. The file is written under a
// temporary name and renamed when complete.
func (q *Queue) Snapshot(ctx context.Context, dir string, keep int, at time.Time) (*BackupResult, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("backup directory %s: %w", dir, err)
	}
	name := filepath.Join(dir, backupBase(q)+at.UTC().Format("20060102T150405Z")+".clbackup.gz")
	tmp, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(name)+"-*")
	if err != nil {
		return nil, fmt.Errorf("create backup in %s: %w", dir, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	n, err := writeSnapshot(ctx, q, tmp, at)
	if cerr := tmp.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("write backup %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return nil, fmt.Errorf("write backup %s: %w", name, err)
	}
	res := &BackupResult{File: name, Keys: n}
	if fi, err := os.Stat(name); err == nil {
		res.Bytes = fi.Size()
	}
	res.Removed, err = pruneBackups(dir, backupBase(q), keep)
	return res, err
}

func backupBase(q *Queue) string {
	return strings.NewReplacer("/", "-", ":", "-").Replace(q.Namespace().String()) + "-"
}

func writeSnapshot(ctx context.Context, q *Queue, f *os.File, at time.Time) (int, error) {
	zw := gzip.NewWriter(f)
	bw := bufio.NewWriterSize(zw, 1<<20)
	enc := json.NewEncoder(bw)
	k := q.Beat().k
	if err := enc.Encode(backupHeader{Format: backupFormat, Namespace: q.Namespace().String(), Prefix: q.Keys().Prefix(), Created: at.UTC()}); err != nil {
		return 0, err
	}
	n := 0
	err := scanPrefix(ctx, q.rdb, q.keys.prefix, func(c redis.Cmdable, keys []string) error {
		lines, err := dumpKeys(ctx, c, keys, k)
		for _, l := range lines {
			if err := enc.Encode(l); err != nil {
				return err
			}
		}
		n += len(lines)
		return err
	})
	if err != nil {
		return n, err
	}
	if err := enc.Encode(backupLine{End: true, Keys: n}); err != nil {
		return n, err
	}
	if err := bw.Flush(); err != nil {
		return n, err
	}
	if err := zw.Close(); err != nil {
		return n, err
	}
	return n, f.Sync()
}

// scanPrefix calls fn with batches of the keys starting with prefix, on
// every master of a Redis Cluster or on the one server.
func scanPrefix(ctx context.Context, rdb redis.UniversalClient, prefix string, fn func(redis.Cmdable, []string) error) error {
	match := globEscape(prefix) + "*"
	scan := func(ctx context.Context, c redis.Cmdable) error {
		var cursor uint64
		for {
			keys, next, err := c.Scan(ctx, cursor, match, 1000).Result()
			if err != nil {
				return fmt.Errorf("scan %s: %w", match, err)
			}
			if len(keys) > 0 {
				if err := fn(c, keys); err != nil {
					return err
				}
			}
			if cursor = next; cursor == 0 {
				return nil
			}
		}
	}
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
	}
	return scan(ctx, rdb)
}

func globEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`, `]`, `\]`).Replace(s)
}

// dumpKeys DUMPs a batch of keys with their PTTL in one pipeline.
func dumpKeys(ctx context.Context, c redis.Cmdable, keys []string, k beatKeys) ([]backupLine, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	pipe := c.Pipeline()
	type pair struct {
		dump *redis.StringCmd
		ttl  *redis.DurationCmd
	}
	var kept []string
	var cmds []pair
	for _, key := range keys {
		if k.volatile(key) {
			continue
		}
		kept = append(kept, key)
		cmds = append(cmds, pair{pipe.Dump(ctx, key), pipe.PTTL(ctx, key)})
	}
	if len(kept) == 0 {
		return nil, nil
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("dump %d keys: %w", len(kept), err)
	}
	out := make([]backupLine, 0, len(kept))
	for i, key := range kept {
		v, err := cmds[i].dump.Result()
		if errors.Is(err, redis.Nil) {
			continue // expired between SCAN and DUMP
		}
		if err != nil {
			return nil, fmt.Errorf("dump %s: %w", key, err)
		}
		l := backupLine{Key: key, Value: []byte(v)}
		if ttl := cmds[i].ttl.Val(); ttl > 0 {
			l.PTTL = max(ttl.Milliseconds(), 1)
		}
		out = append(out, l)
	}
	return out, nil
}

// pruneBackups deletes the oldest snapshots named base* beyond keep.
func pruneBackups(dir, base string, keep int) ([]string, error) {
	if keep < 1 {
		keep = 1
	}
	files, err := filepath.Glob(filepath.Join(globEscape(dir), globEscape(base)+"*.clbackup.gz"))
	if err != nil {
		return nil, fmt.Errorf("list backups in %s: %w", dir, err)
	}
	sort.Strings(files) // the time in the name sorts them
	var removed []string
	for len(files) > keep {
		if err := os.Remove(files[0]); err != nil {
			return removed, fmt.Errorf("remove old backup %s: %w", files[0], err)
		}
		removed = append(removed, files[0])
		files = files[1:]
	}
	return removed, nil
}
