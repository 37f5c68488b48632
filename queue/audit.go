package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// The audit trail's Redis side: a list of records (opaque bytes, each the
// JSON that package audit built and hashed) and a head key holding
// "<seq>|<hash>" of the last one. Package audit computes the hash chain;
// this file only appends under a compare-and-set on the head, so that
// concurrent appenders keep one chain. Audit keys never expire.

// AuditLog is the list of audit records, tagged {audit}.
func (k Keys) AuditLog() string { return k.prefix + "{audit}:log" }

// AuditHead is "<seq>|<hash>" of the last audit record.
func (k Keys) AuditHead() string { return k.prefix + "{audit}:head" }

// append: KEYS log, head; ARGV expected head ("" when empty), new head, record.
// Returns {1} when appended, {0, current head} when the head moved.
var scriptAuditAppend = redis.NewScript(`
local cur = redis.call('GET', KEYS[2]) or ''
if cur ~= ARGV[1] then return {0, cur} end
redis.call('RPUSH', KEYS[1], ARGV[3])
redis.call('SET', KEYS[2], ARGV[2])
return {1}
`)

// AuditHead returns the sequence number and hash of the last audit record
// (0 and "" when the trail is empty).
func (q *Queue) AuditHead(ctx context.Context) (int64, string, error) {
	octx, cancel := q.op(ctx)
	defer cancel()
	v, err := q.rdb.Get(octx, q.keys.AuditHead()).Result()
	if errors.Is(err, redis.Nil) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", fmt.Errorf("read the audit head: %w", err)
	}
	return parseAuditHead(v)
}

func parseAuditHead(v string) (int64, string, error) {
	if v == "" {
		return 0, "", nil
	}
	s, h, ok := strings.Cut(v, "|")
	seq, err := strconv.ParseInt(s, 10, 64)
	if !ok || err != nil || seq < 0 {
		return 0, "", fmt.Errorf("audit head %q is malformed: run cl audit verify", v)
	}
	return seq, h, nil
}

// AuditAppend appends record as number seq with hash, provided the head is
// still (prevSeq, prevHash), and reports whether it did: false means the
// head moved (another appender went first) and nothing was written; read
// the head again and rebuild the record.
func (q *Queue) AuditAppend(ctx context.Context, prevSeq int64, prevHash string, seq int64, hash string, record []byte) (bool, error) {
	expect := ""
	if prevSeq > 0 || prevHash != "" {
		expect = strconv.FormatInt(prevSeq, 10) + "|" + prevHash
	}
	octx, cancel := q.op(ctx)
	defer cancel()
	res, err := scriptAuditAppend.Run(octx, q.rdb, []string{q.keys.AuditLog(), q.keys.AuditHead()},
		expect, strconv.FormatInt(seq, 10)+"|"+hash, record).Slice()
	if err != nil {
		return false, fmt.Errorf("append audit record %d: %w", seq, err)
	}
	return len(res) > 0 && res[0] == int64(1), nil
}

// AuditRecords returns the stored audit records in order, all of them.
func (q *Queue) AuditRecords(ctx context.Context) ([][]byte, error) {
	var out [][]byte
	const page = 1000
	for start := int64(0); ; start += page {
		octx, cancel := q.op(ctx)
		vs, err := q.rdb.LRange(octx, q.keys.AuditLog(), start, start+page-1).Result()
		cancel()
		if err != nil {
			return nil, fmt.Errorf("read the audit trail: %w", err)
		}
		for _, v := range vs {
			out = append(out, []byte(v))
		}
		if len(vs) < page {
			return out, nil
		}
	}
}
