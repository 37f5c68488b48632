package queue

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Documents are small JSON values of a namespace that change only by
// compare-and-swap on a version number (the agent's applied state is one).
// Each lives in the hash "<prefix>{agent}:doc:<name>" with fields v and
// data; the version of a missing document is 0.

// docKey is the key of a document.
func (k Keys) docKey(name string) string { return k.prefix + "{agent}:doc:" + name }

// onceKey is the key of a set of once-only markers.
func (k Keys) onceKey(set string) string { return k.prefix + "{agent}:once:" + set }

// swapDoc: KEYS doc; ARGV expected-version, data. Returns the new version,
// or -1 when the stored version is not the expected one.
var scriptSwapDoc = redis.NewScript(`
local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if v ~= tonumber(ARGV[1]) then return -1 end
redis.call('HSET', KEYS[1], 'v', v + 1, 'data', ARGV[2])
return v + 1
`)

// LoadDoc returns a document's version and data (0 and nil when missing).
func (q *Queue) LoadDoc(ctx context.Context, name string) (int64, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, q.opt.opTimeout)
	defer cancel()
	vals, err := q.rdb.HMGet(ctx, q.keys.docKey(name), "v", "data").Result()
	if err != nil {
		return 0, nil, fmt.Errorf("read %s: %w", name, err)
	}
	v, _ := vals[0].(string)
	data, _ := vals[1].(string)
	if v == "" {
		return 0, nil, nil
	}
	var n int64
	if _, err := fmt.Sscan(v, &n); err != nil {
		return 0, nil, fmt.Errorf("read %s: version %q is not a number", name, v)
	}
	return n, []byte(data), nil
}

// SwapDoc stores data as the document's next version if its version is
// still version, and returns the new version; ok is false (and nothing
// written) when the document changed since it was read.
func (q *Queue) SwapDoc(ctx context.Context, name string, version int64, data []byte) (newVersion int64, ok bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, q.opt.opTimeout)
	defer cancel()
	n, err := scriptSwapDoc.Run(ctx, q.rdb, []string{q.keys.docKey(name)}, version, data).Int64()
	if err != nil {
		return 0, false, fmt.Errorf("write %s: %w", name, err)
	}
	return n, n > 0, nil
}

// onceTTL is how long once-only markers are remembered.
const onceTTL = 90 * 24 * time.Hour

// MarkOnce records member in the named set; false when it was there
// already. Markers are kept for 90 days after the set's last change.
func (q *Queue) MarkOnce(ctx context.Context, set, member string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, q.opt.opTimeout)
	defer cancel()
	key := q.keys.onceKey(set)
	var added *redis.IntCmd
	_, err := q.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		added = p.SAdd(ctx, key, member)
		p.Expire(ctx, key, onceTTL)
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("mark %s in %s: %w", member, set, err)
	}
	return added.Val() == 1, nil
}
