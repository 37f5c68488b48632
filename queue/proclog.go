package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Process logs: every long-running process (worker, beat, agent) ships its
// own log lines to one Redis stream of its own, "<prefix>{plog:<kind>:<host>}"
// (a ProcSource), read back merged by `cl cluster logs`. Each stream is kept
// within a byte budget (ProcLogBudget): the ship script adds the new lines
// and deletes the oldest ones until the text of the stream, counted with a
// per-line overhead, fits again. The stream and its counter expire
// ProcLogTTL after the last ship, so a process gone for good leaves nothing.
// The index hash "<prefix>{plogs}:index" names every source that shipped.
const (
	// ProcLogBudget is the bytes one process's log stream keeps.
	ProcLogBudget = 4 << 20
	// ProcLineMax is the longest line kept; longer ones are cut.
	ProcLineMax = 8 << 10
	// ProcLogTTL is how long a process's log outlives its last line.
	ProcLogTTL = 7 * 24 * time.Hour
	// procLineOverhead is what one entry costs besides its text.
	procLineOverhead = 64
)

// ProcSource names the process a log line comes from.
type ProcSource struct {
	Kind string `json:"kind"` // worker, beat or agent
	Host string `json:"host"` // the host's name in cl.yaml, or the machine's name
	Role string `json:"role,omitempty"`
}

// Name is "<kind>:<host>".
func (s ProcSource) Name() string { return s.Kind + ":" + s.Host }

// ProcLine is one log line of a process.
type ProcLine struct {
	Source ProcSource `json:"source"`
	ID     string     `json:"-"` // stream entry id
	Time   time.Time  `json:"time"`
	Level  string     `json:"level"`
	Text   string     `json:"text"`
}

// ProcLog is the stream of one process's log lines.
func (k Keys) ProcLog(src string) string { return k.prefix + "{plog:" + src + "}" }

// procLogSize is the hash of a process log's byte count and cut lines.
func (k Keys) procLogSize(src string) string { return k.prefix + "{plog:" + src + "}:size" }

// ProcLogIndex is the hash of sources that shipped log lines.
func (k Keys) ProcLogIndex() string { return k.prefix + "{plogs}:index" }

// scriptShip: KEYS stream, size; ARGV budget, ttl-ms, overhead, then per
// line: time-ms, level, text. Returns the number of lines cut.
var scriptShip = redis.NewScript(`
local budget, over = tonumber(ARGV[1]), tonumber(ARGV[3])
local bytes = tonumber(redis.call('HGET', KEYS[2], 'bytes') or '0')
if redis.call('EXISTS', KEYS[1]) == 0 then bytes = 0 end
for i = 4, #ARGV, 3 do
  redis.call('XADD', KEYS[1], '*', 't', ARGV[i], 'lv', ARGV[i + 1], 'm', ARGV[i + 2])
  bytes = bytes + #ARGV[i + 2] + over
end
local cut = 0
while bytes > budget do
  local old = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 256)
  if #old == 0 then bytes = 0 break end
  local ids = {}
  for _, e in ipairs(old) do
    if bytes <= budget then break end
    local f, m = e[2], ''
    for j = 1, #f, 2 do if f[j] == 'm' then m = f[j + 1] end end
    bytes = bytes - (#m + over)
    ids[#ids + 1] = e[1]
  end
  redis.call('XDEL', KEYS[1], unpack(ids))
  cut = cut + #ids
end
redis.call('HSET', KEYS[2], 'bytes', bytes)
if cut > 0 then redis.call('HINCRBY', KEYS[2], 'cut', cut) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return cut
`)

// ShipLog appends lines of one process to its log stream, keeping the
// stream within its byte budget (budget <= 0: ProcLogBudget). It is one
// round trip; a caller that must not block (a logger) calls it from its
// own goroutine with a short deadline.
func (q *Queue) ShipLog(ctx context.Context, src ProcSource, budget int64, lines []ProcLine) error {
	if len(lines) == 0 {
		return nil
	}
	if err := checkName("log source", src.Name()); err != nil {
		return fmt.Errorf("ship log: %w", err)
	}
	if budget <= 0 {
		budget = ProcLogBudget
	}
	args := []any{budget, ProcLogTTL.Milliseconds(), procLineOverhead}
	for _, l := range lines {
		text := l.Text
		if len(text) > ProcLineMax {
			text = text[:ProcLineMax] + "…"
		}
		args = append(args, l.Time.UnixMilli(), l.Level, text)
	}
	meta, _ := json.Marshal(src)
	octx, cancel := q.op(ctx)
	defer cancel()
	name := src.Name()
	if err := scriptShip.Run(octx, q.rdb, []string{q.keys.ProcLog(name), q.keys.procLogSize(name)}, args...).Err(); err != nil {
		return fmt.Errorf("ship %d log lines of %s: %w", len(lines), name, err)
	}
	pipe := q.rdb.Pipeline()
	pipe.HSet(octx, q.keys.ProcLogIndex(), name, meta)
	pipe.PExpire(octx, q.keys.ProcLogIndex(), ProcLogTTL)
	if _, err := pipe.Exec(octx); err != nil {
		return fmt.Errorf("index the log of %s: %w", name, err)
	}
	return nil
}

// ProcSources returns the processes that shipped log lines.
func (q *Queue) ProcSources(ctx context.Context) ([]ProcSource, error) {
	octx, cancel := q.op(ctx)
	defer cancel()
	m, err := q.rdb.HGetAll(octx, q.keys.ProcLogIndex()).Result()
	if err != nil {
		return nil, fmt.Errorf("read the process log index: %w", err)
	}
	out := make([]ProcSource, 0, len(m))
	for name, v := range m {
		var s ProcSource
		if json.Unmarshal([]byte(v), &s) != nil || s.Name() != name {
			continue
		}
		out = append(out, s)
	}
	return out, nil
}

// ProcLog returns up to count lines of one process's log after entry id
// after ("" : from the oldest kept; "$": none, only the id of the newest)
// whose time is not before since, and the id to pass next.
func (q *Queue) ProcLog(ctx context.Context, src ProcSource, after string, since time.Time, count int64) ([]ProcLine, string, error) {
	octx, cancel := q.op(ctx)
	defer cancel()
	key := q.keys.ProcLog(src.Name())
	if after == "$" {
		last, err := q.rdb.XRevRangeN(octx, key, "+", "-", 1).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, after, fmt.Errorf("read the log of %s: %w", src.Name(), err)
		}
		if len(last) == 0 {
			return nil, "0-0", nil
		}
		return nil, last[0].ID, nil
	}
	start := "-"
	if after != "" {
		start = "(" + after
	}
	msgs, err := q.rdb.XRangeN(octx, key, start, "+", count).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, after, fmt.Errorf("read the log of %s: %w", src.Name(), err)
	}
	next := after
	var out []ProcLine
	for _, m := range msgs {
		next = m.ID
		t, _ := m.Values["t"].(string)
		at := fromMS(t)
		if !since.IsZero() && at.Before(since) {
			continue
		}
		lv, _ := m.Values["lv"].(string)
		text, _ := m.Values["m"].(string)
		out = append(out, ProcLine{Source: src, ID: m.ID, Time: at, Level: lv, Text: text})
	}
	return out, next, nil
}

// ProcLogSize returns the bytes a process's log holds (as the budget
// counts them) and how many lines the budget cut so far.
func (q *Queue) ProcLogSize(ctx context.Context, src ProcSource) (bytes, cut int64, err error) {
	octx, cancel := q.op(ctx)
	defer cancel()
	v, err := q.rdb.HMGet(octx, q.keys.procLogSize(src.Name()), "bytes", "cut").Result()
	if err != nil {
		return 0, 0, fmt.Errorf("read the log size of %s: %w", src.Name(), err)
	}
	b, _ := v[0].(string)
	c, _ := v[1].(string)
	bytes, _ = strconv.ParseInt(b, 10, 64)
	cut, _ = strconv.ParseInt(c, 10, 64)
	return bytes, cut, nil
}
