package queue

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Heartbeat is what a live worker reports about itself. A deploy is healthy
// when the host's heartbeat carries the new SHA.
type Heartbeat struct {
	Host    string    `json:"host"`
	Role    string    `json:"role"`
	SHA     string    `json:"sha"`
	PID     int       `json:"pid"`
	Version string    `json:"version"`
	Started time.Time `json:"started"` // process start, or its last reload
	// Reload: the worker reloads on SIGUSR1 (a deploy that changes only
	// task files signals it instead of restarting it).
	Reload    bool      `json:"reload,omitempty"`
	SlotsBusy int       `json:"slots_busy"`
	Slots     int       `json:"slots"`
	Processed int64     `json:"processed"`
	Failed    int64     `json:"failed"`
	Time      time.Time `json:"time"` // when it was sent
}

// Heartbeat records hb (hb.Time defaults to now). It stays visible for the
// heartbeat TTL (WithHeartbeatTTL): send one at least every third of it.
func (q *Queue) Heartbeat(ctx context.Context, hb Heartbeat) error {
	if err := checkName("host", hb.Host); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	if hb.Time.IsZero() {
		hb.Time = time.Now()
	}
	key := q.keys.Heartbeat(hb.Host)
	octx, cancel := q.op(ctx)
	defer cancel()
	// One MULTI: the hash and its index entry share the {workers} tag.
	_, err := q.rdb.TxPipelined(octx, func(p redis.Pipeliner) error {
		p.HSet(octx, key, "host", hb.Host, "role", hb.Role, "sha", hb.SHA, "pid", hb.PID,
			"version", hb.Version, "started", ms(hb.Started), "busy", hb.SlotsBusy, "slots", hb.Slots,
			"processed", hb.Processed, "failed", hb.Failed, "time", ms(hb.Time), "reload", boolField(hb.Reload))
		p.PExpire(octx, key, q.opt.heartbeatTTL)
		p.ZAdd(octx, q.keys.Seen(), redis.Z{Score: float64(ms(hb.Time)), Member: hb.Host})
		p.ZRemRangeByScore(octx, q.keys.Seen(), "-inf", strconv.FormatInt(ms(hb.Time)-q.opt.heartbeatTTL.Milliseconds(), 10))
		return nil
	})
	if err != nil {
		return fmt.Errorf("heartbeat of %s: %w", hb.Host, err)
	}
	return nil
}

// Workers lists the workers whose last heartbeat is younger than the
// heartbeat TTL, sorted by host. It reads an index sorted by last-seen time
// (no KEYS or SCAN), then the live hosts' hashes in one round trip.
func (q *Queue) Workers(ctx context.Context) ([]Heartbeat, error) {
	octx, cancel := q.op(ctx)
	defer cancel()
	since := time.Now().Add(-q.opt.heartbeatTTL).UnixMilli()
	hosts, err := q.rdb.ZRangeByScore(octx, q.keys.Seen(), &redis.ZRangeBy{
		Min: strconv.FormatInt(since, 10), Max: "+inf",
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("list workers: %w", err)
	}
	if len(hosts) == 0 {
		return nil, nil
	}
	pipe := q.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(hosts))
	for i, h := range hosts {
		cmds[i] = pipe.HGetAll(octx, q.keys.Heartbeat(h))
	}
	if _, err := pipe.Exec(octx); err != nil {
		return nil, fmt.Errorf("read %d heartbeats: %w", len(hosts), err)
	}
	var out []Heartbeat
	for _, c := range cmds {
		if hb, ok := decodeHeartbeat(c.Val()); ok {
			out = append(out, hb)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Host < out[j].Host })
	return out, nil
}

// Worker returns the live heartbeat of one host; ok is false when the host
// has not sent one within the heartbeat TTL.
func (q *Queue) Worker(ctx context.Context, host string) (hb Heartbeat, ok bool, err error) {
	octx, cancel := q.op(ctx)
	defer cancel()
	h, err := q.rdb.HGetAll(octx, q.keys.Heartbeat(host)).Result()
	if err != nil {
		return Heartbeat{}, false, fmt.Errorf("read heartbeat of %s: %w", host, err)
	}
	hb, ok = decodeHeartbeat(h)
	return hb, ok, nil
}

func decodeHeartbeat(h map[string]string) (Heartbeat, bool) {
	if h["host"] == "" {
		return Heartbeat{}, false
	}
	n := func(k string) int64 { v, _ := strconv.ParseInt(h[k], 10, 64); return v }
	return Heartbeat{
		Host: h["host"], Role: h["role"], SHA: h["sha"], PID: int(n("pid")), Version: h["version"],
		Started: fromMS(h["started"]), SlotsBusy: int(n("busy")), Slots: int(n("slots")),
		Processed: n("processed"), Failed: n("failed"), Time: fromMS(h["time"]), Reload: h["reload"] == "1",
	}, true
}

func boolField(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
