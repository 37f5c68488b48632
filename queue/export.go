package queue

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// KeyRecord is one Redis key of a namespace read by its type (no DUMP, so
// it works on the embedded miniredis of cl dev as on redis-server): the
// content of `cl cluster backup`. Values are bytes, so binary data survives
// a JSON round trip.
type KeyRecord struct {
	Key  string `json:"key"`
	Type string `json:"type"` // string, hash, list, set, zset, stream
	// TTL is the time to live left when read, in ms; 0: no expiry.
	TTL int64 `json:"ttl_ms,omitempty"`
	// Value is a string's value.
	Value []byte `json:"value,omitempty"`
	// Items are a list's elements (in order), a set's or a zset's members,
	// or a hash's field and value pairs.
	Items [][]byte `json:"items,omitempty"`
	// Scores are a zset's scores, one per item (strconv 'g' format, ±inf
	// included).
	Scores []string `json:"scores,omitempty"`
	// Entries and Groups are a stream's entries and consumer groups.
	Entries []StreamEntry `json:"entries,omitempty"`
	Groups  []StreamGroup `json:"groups,omitempty"`
}

// StreamEntry is one entry of a stream: its id and field, value pairs.
type StreamEntry struct {
	ID     string   `json:"id"`
	Fields [][]byte `json:"fields"`
}

// StreamGroup is a consumer group: where it has read to and the entries
// delivered but not acknowledged, by consumer.
type StreamGroup struct {
	Name    string            `json:"name"`
	LastID  string            `json:"last_id"`
	Pending map[string]string `json:"pending,omitempty"` // entry id → consumer
}

// Key types ExportKeys reads and ImportKeys writes.
var keyTypes = map[string]bool{"string": true, "hash": true, "list": true, "set": true, "zset": true, "stream": true}

// ExportKeys reads every key of q's namespace by type (a running beat's
// lease and member records excepted, as Snapshot does), sorted by name.
func (q *Queue) ExportKeys(ctx context.Context) ([]KeyRecord, error) {
	k := q.Beat().k
	var out []KeyRecord
	err := scanPrefix(ctx, q.rdb, q.keys.prefix, func(c redis.Cmdable, keys []string) error {
		for _, key := range keys {
			if k.volatile(key) {
				continue
			}
			r, ok, err := readKey(ctx, c, key)
			if err != nil {
				return err
			}
			if ok {
				out = append(out, r)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("export namespace %s: %w", q.Namespace(), err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// readKey reads one key; ok is false when it vanished meanwhile.
func readKey(ctx context.Context, c redis.Cmdable, key string) (KeyRecord, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	r := KeyRecord{Key: key}
	typ, err := c.Type(ctx, key).Result()
	if err != nil {
		return r, false, fmt.Errorf("type of %s: %w", key, err)
	}
	r.Type = typ
	switch typ {
	case "none":
		return r, false, nil
	case "string":
		v, err := c.Get(ctx, key).Result()
		if errors.Is(err, redis.Nil) {
			return r, false, nil
		}
		r.Value, err = []byte(v), wrap(err, "get", key)
		if err != nil {
			return r, false, err
		}
	case "hash":
		h, err := c.HGetAll(ctx, key).Result()
		if err != nil {
			return r, false, wrap(err, "hgetall", key)
		}
		fields := make([]string, 0, len(h))
		for f := range h {
			fields = append(fields, f)
		}
		sort.Strings(fields)
		for _, f := range fields {
			r.Items = append(r.Items, []byte(f), []byte(h[f]))
		}
	case "list":
		l, err := c.LRange(ctx, key, 0, -1).Result()
		if err != nil {
			return r, false, wrap(err, "lrange", key)
		}
		r.Items = toBytes(l)
	case "set":
		s, err := c.SMembers(ctx, key).Result()
		if err != nil {
			return r, false, wrap(err, "smembers", key)
		}
		sort.Strings(s)
		r.Items = toBytes(s)
	case "zset":
		z, err := c.ZRangeWithScores(ctx, key, 0, -1).Result()
		if err != nil {
			return r, false, wrap(err, "zrange", key)
		}
		for _, m := range z {
			r.Items = append(r.Items, []byte(fmt.Sprint(m.Member)))
			r.Scores = append(r.Scores, strconv.FormatFloat(m.Score, 'g', -1, 64))
		}
	case "stream":
		if err := readStream(ctx, c, &r); err != nil {
			return r, false, err
		}
	default:
		return r, false, fmt.Errorf("key %s is a %s, which backups do not hold: remove it or keep it out of the namespace", key, typ)
	}
	ttl, err := c.PTTL(ctx, key).Result()
	if err != nil {
		return r, false, wrap(err, "pttl", key)
	}
	if ttl > 0 {
		r.TTL = max(ttl.Milliseconds(), 1)
	}
	return r, true, nil
}

func readStream(ctx context.Context, c redis.Cmdable, r *KeyRecord) error {
	msgs, err := c.XRange(ctx, r.Key, "-", "+").Result()
	if err != nil {
		return wrap(err, "xrange", r.Key)
	}
	for _, m := range msgs {
		e := StreamEntry{ID: m.ID}
		names := make([]string, 0, len(m.Values))
		for f := range m.Values {
			names = append(names, f)
		}
		sort.Strings(names)
		for _, f := range names {
			e.Fields = append(e.Fields, []byte(f), []byte(fmt.Sprint(m.Values[f])))
		}
		r.Entries = append(r.Entries, e)
	}
	groups, err := c.XInfoGroups(ctx, r.Key).Result()
	if err != nil {
		return wrap(err, "xinfo groups", r.Key)
	}
	for _, g := range groups {
		sg := StreamGroup{Name: g.Name, LastID: g.LastDeliveredID}
		if g.Pending > 0 {
			pend, err := c.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: r.Key, Group: g.Name, Start: "-", End: "+", Count: g.Pending + 1}).Result()
			if err != nil {
				return wrap(err, "xpending", r.Key)
			}
			sg.Pending = make(map[string]string, len(pend))
			for _, p := range pend {
				sg.Pending[p.ID] = p.Consumer
			}
		}
		r.Groups = append(r.Groups, sg)
	}
	return nil
}

func wrap(err error, op, key string) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s %s: %w", op, key, err)
}

func toBytes(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

// CheckKeys checks records before ImportKeys writes them: every key inside
// q's namespace, not a running beat's record, of a known type with a
// well-formed value. It writes nothing.
func (q *Queue) CheckKeys(recs []KeyRecord) error {
	p, k := q.keys.prefix, q.Beat().k
	seen := make(map[string]bool, len(recs))
	for i, r := range recs {
		switch {
		case !strings.HasPrefix(r.Key, p) || r.Key == p:
			return fmt.Errorf("key %d %q is outside namespace %s (keys start with %q)", i+1, r.Key, q.Namespace(), p)
		case k.volatile(r.Key):
			return fmt.Errorf("key %q is a running beat's lease or member record, which backups never hold", r.Key)
		case seen[r.Key]:
			return fmt.Errorf("key %q appears twice", r.Key)
		case !keyTypes[r.Type]:
			return fmt.Errorf("key %q has type %q: want one of string, hash, list, set, zset, stream", r.Key, r.Type)
		case r.TTL < 0:
			return fmt.Errorf("key %q has a negative time to live", r.Key)
		case r.Type == "hash" && len(r.Items)%2 != 0:
			return fmt.Errorf("hash %q has an odd number of items", r.Key)
		case r.Type == "zset" && len(r.Scores) != len(r.Items):
			return fmt.Errorf("zset %q has %d members but %d scores", r.Key, len(r.Items), len(r.Scores))
		case r.Type != "stream" && r.Type != "string" && len(r.Items) == 0:
			return fmt.Errorf("%s %q is empty", r.Type, r.Key)
		case r.Type == "stream" && len(r.Entries) == 0 && len(r.Groups) == 0:
			return fmt.Errorf("stream %q has neither entries nor groups", r.Key)
		}
		for _, s := range r.Scores {
			if _, err := strconv.ParseFloat(s, 64); err != nil {
				return fmt.Errorf("zset %q: score %q is not a number", r.Key, s)
			}
		}
		for _, e := range r.Entries {
			if e.ID == "" || len(e.Fields) == 0 || len(e.Fields)%2 != 0 {
				return fmt.Errorf("stream %q: entry %q has no id or an odd number of fields", r.Key, e.ID)
			}
		}
		seen[r.Key] = true
	}
	return nil
}

// ImportKeys writes records into q's namespace after CheckKeys accepted
// all of them: each key is deleted and written again with its TTL, keys not
// in recs are left alone. A stream's consumer groups come back with their
// pending entries delivered again to the consumers that held them (delivery
// counts and idle times start over) and their last delivered id.
func (q *Queue) ImportKeys(ctx context.Context, recs []KeyRecord) (int, error) {
	if err := q.CheckKeys(recs); err != nil {
		return 0, err
	}
	for i, r := range recs {
		if err := writeKey(ctx, q.rdb, r); err != nil {
			return i, fmt.Errorf("import %s: %w", r.Key, err)
		}
	}
	return len(recs), nil
}

// writeKey replaces one key in one MULTI (its commands share the key's
// slot), so workers and beats never see it half written: DEL, the value,
// a stream's groups with their redeliveries, the TTL. A group's last id
// beyond its last entry is set after (XGROUP SETID).
func writeKey(ctx context.Context, rdb redis.UniversalClient, r KeyRecord) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	pipe := rdb.TxPipeline()
	pipe.Del(ctx, r.Key)
	switch r.Type {
	case "string":
		pipe.Set(ctx, r.Key, r.Value, 0)
	case "hash":
		pipe.HSet(ctx, r.Key, anys(r.Items)...)
	case "list":
		pipe.RPush(ctx, r.Key, anys(r.Items)...)
	case "set":
		pipe.SAdd(ctx, r.Key, anys(r.Items)...)
	case "zset":
		zs := make([]redis.Z, len(r.Items))
		for i, m := range r.Items {
			s, _ := strconv.ParseFloat(r.Scores[i], 64)
			zs[i] = redis.Z{Score: s, Member: m}
		}
		pipe.ZAdd(ctx, r.Key, zs...)
	case "stream":
		for _, e := range r.Entries {
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: r.Key, ID: e.ID, Values: anys(e.Fields)})
		}
	}
	var setID map[string]string
	if r.Type == "stream" {
		setID = queueGroups(ctx, pipe, r)
	}
	if r.TTL > 0 {
		pipe.PExpire(ctx, r.Key, time.Duration(r.TTL)*time.Millisecond)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return err
	}
	for g, id := range setID {
		err := rdb.Do(ctx, "XGROUP", "SETID", r.Key, g, id).Err()
		if err != nil && !strings.Contains(err.Error(), "not supported") { // miniredis: the group stays at its last entry read
			return fmt.Errorf("set the last id of group %s: %w", g, err)
		}
	}
	return nil
}

// restoreConsumer is the consumer that takes the entries a group had
// delivered and acknowledged; it is deleted at the end.
const restoreConsumer = "cl-restore"

// queueGroups adds to pipe the commands that recreate a stream's consumer
// groups: each group starts at 0 and reads the entries up to its last
// delivered id in order, each by the consumer that held it pending, or by
// restoreConsumer which acknowledges it. It returns the groups whose last
// id lies beyond the last entry they read, and that id.
func queueGroups(ctx context.Context, pipe redis.Pipeliner, r KeyRecord) map[string]string {
	setID := map[string]string{}
	for _, g := range r.Groups {
		pipe.XGroupCreateMkStream(ctx, r.Key, g.Name, "0")
		used, last := false, "0-0"
		for _, e := range r.Entries {
			if !idLE(e.ID, g.LastID) {
				break
			}
			c, pending := g.Pending[e.ID]
			if !pending {
				c = restoreConsumer
			}
			pipe.XReadGroup(ctx, &redis.XReadGroupArgs{Group: g.Name, Consumer: c, Streams: []string{r.Key, ">"}, Count: 1, Block: -1})
			if !pending {
				pipe.XAck(ctx, r.Key, g.Name, e.ID)
				used = true
			}
			last = e.ID
		}
		if used {
			pipe.XGroupDelConsumer(ctx, r.Key, g.Name, restoreConsumer)
		}
		if g.LastID != "" && g.LastID != last {
			setID[g.Name] = g.LastID
		}
	}
	return setID
}

// idLE reports whether stream id a is at or before b ("ms-seq").
func idLE(a, b string) bool {
	am, as := splitID(a)
	bm, bs := splitID(b)
	return am < bm || am == bm && as <= bs
}

func splitID(id string) (uint64, uint64) {
	ms, seq, _ := strings.Cut(id, "-")
	m, _ := strconv.ParseUint(ms, 10, 64)
	s, _ := strconv.ParseUint(seq, 10, 64)
	return m, s
}

func anys(bs [][]byte) []any {
	out := make([]any, len(bs))
	for i, b := range bs {
		out[i] = b
	}
	return out
}
