package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/celeroot/celeroot/queue"
)

// Status is what `cl beat status` shows: who leads, which beats run, the
// published set, and per schedule its next and last fires.
type Status struct {
	Namespace string           `json:"namespace"`
	Leader    *LeaderInfo      `json:"leader"`
	Beats     []Member         `json:"beats"`
	Published *Published       `json:"published"`
	Schedules []ScheduleStatus `json:"schedules"`
}

// LeaderInfo describes the lease holder.
type LeaderInfo struct {
	ID          string    `json:"id"`
	Host        string    `json:"host"`
	PID         int       `json:"pid"`
	Version     string    `json:"version,omitempty"`
	Since       time.Time `json:"since"`
	Epoch       int64     `json:"epoch"`
	ExpiresInMS int64     `json:"expires_in_ms"`
}

// ScheduleStatus is one schedule of the published set.
type ScheduleStatus struct {
	Name     string      `json:"name"`
	Cron     string      `json:"cron"`
	Timezone string      `json:"timezone"`
	Enabled  bool        `json:"enabled"`
	Next     []time.Time `json:"next,omitempty"`
	Last     *FireRecord `json:"last,omitempty"`
	// Results counts the last fire's runs by state ("expired" when a run
	// record is gone).
	Results map[string]int `json:"results,omitempty"`
}

// ReadStatus collects the status of the beats of q's namespace, with the
// next n fire times of each schedule.
func ReadStatus(ctx context.Context, q *queue.Queue, n int) (*Status, error) {
	rdb, k := q.Client(), newKeys(q.Keys().Prefix())
	st := &Status{Namespace: q.Namespace().String()}
	var err error
	if st.Leader, err = readLeader(ctx, rdb, k); err != nil {
		return nil, err
	}
	if st.Beats, err = readMembers(ctx, rdb, k); err != nil {
		return nil, err
	}
	if st.Published, err = readPublished(ctx, rdb, k, true); err != nil {
		return nil, err
	}
	if st.Published == nil {
		return st, nil
	}
	last, err := readLast(ctx, rdb, k)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	ld := compile(st.Published.Set, st.Published.Gen, nil)
	for _, c := range append(append([]*compiled{}, ld.specs...), ld.off...) {
		ss := ScheduleStatus{Name: c.spec.Name, Cron: c.spec.Cron, Timezone: c.cron.Location().String(), Enabled: c.spec.Enabled, Last: last[c.spec.Name]}
		if ss.Enabled {
			ss.Next, _ = c.cron.NextN(now, n)
		}
		if ss.Last != nil && len(ss.Last.Runs) > 0 {
			ss.Results = runResults(ctx, q, ss.Last.Runs)
		}
		st.Schedules = append(st.Schedules, ss)
	}
	return st, nil
}

func readLeader(ctx context.Context, rdb redis.UniversalClient, k keys) (*LeaderInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	pipe := rdb.Pipeline()
	val := pipe.Get(ctx, k.leader())
	ttl := pipe.PTTL(ctx, k.leader())
	info := pipe.HGetAll(ctx, k.leaderInfo())
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read beat leader %s: %w", k.leader(), err)
	}
	if val.Val() == "" {
		return nil, nil
	}
	h := info.Val()
	li := &LeaderInfo{ID: h["id"], Host: h["host"], PID: int(toInt(h["pid"])), Version: h["version"],
		Since: time.UnixMilli(toInt(h["since"])), Epoch: toInt(h["epoch"]), ExpiresInMS: ttl.Val().Milliseconds()}
	if id, epoch, ok := strings.Cut(val.Val(), "|"); ok && (li.ID != id || strconv.FormatInt(li.Epoch, 10) != epoch) {
		li = &LeaderInfo{ID: id, Epoch: toInt(epoch), ExpiresInMS: ttl.Val().Milliseconds()} // info not written yet
	}
	return li, nil
}

// Members returns the beats of q's namespace that reported within three
// leases.
func Members(ctx context.Context, q *queue.Queue) ([]Member, error) {
	return readMembers(ctx, q.Client(), newKeys(q.Keys().Prefix()))
}

func readMembers(ctx context.Context, rdb redis.UniversalClient, k keys) ([]Member, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ids, err := rdb.ZRange(ctx, k.members(), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("read beat members %s: %w", k.members(), err)
	}
	out := []Member{}
	for _, id := range ids {
		raw, err := rdb.Get(ctx, k.member(id)).Result()
		if errors.Is(err, redis.Nil) {
			continue // expired: the beat died
		}
		if err != nil {
			return nil, fmt.Errorf("read beat member %s: %w", id, err)
		}
		var m Member
		if json.Unmarshal([]byte(raw), &m) == nil {
			out = append(out, m)
		}
	}
	return out, nil
}

func readLast(ctx context.Context, rdb redis.UniversalClient, k keys) (map[string]*FireRecord, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	h, err := rdb.HGetAll(ctx, k.last()).Result()
	if err != nil {
		return nil, fmt.Errorf("read last fires %s: %w", k.last(), err)
	}
	out := make(map[string]*FireRecord, len(h))
	for name, raw := range h {
		var r FireRecord
		if json.Unmarshal([]byte(raw), &r) == nil {
			out[name] = &r
		}
	}
	return out, nil
}

// runResults counts runs by state, 16 lookups at a time.
func runResults(ctx context.Context, q *queue.Queue, runs map[string]string) map[string]int {
	out := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	slots := make(chan struct{}, 16)
	for _, id := range runs {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			state := "expired"
			if r, err := q.Get(ctx, id); err == nil {
				state = string(r.State)
			} else if !errors.Is(err, queue.ErrNotFound) {
				state = "unknown"
			}
			mu.Lock()
			out[state]++
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// StepDown asks the current leader to give up its lease at its next renewal
// (within a third of a lease); another beat then takes over. It waits up to
// wait for the lease to change hands and returns the old and the new
// holder ("" when none). It returns old == "" when nobody leads.
func StepDown(ctx context.Context, q *queue.Queue, wait time.Duration) (old, now string, err error) {
	rdb, k := q.Client(), newKeys(q.Keys().Prefix())
	octx, cancel := context.WithTimeout(ctx, 5*time.Second)
	v, err := scriptStepdown.Run(octx, rdb, []string{k.leader(), k.stepdown()}, time.Minute.Milliseconds()).Text()
	cancel()
	if errors.Is(err, redis.Nil) {
		return "", "", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("ask beat leader to step down: %w", err)
	}
	deadline := time.Now().Add(wait)
	for {
		cur, err := rdb.Get(ctx, k.leader()).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return v, "", fmt.Errorf("watch beat leader: %w", err)
		}
		if cur != v && (cur != "" || time.Now().After(deadline)) {
			return v, cur, nil
		}
		if time.Now().After(deadline) {
			return v, cur, fmt.Errorf("leader %s did not step down within %v", v, wait)
		}
		if !sleep(ctx, 100*time.Millisecond) {
			return v, "", ctx.Err()
		}
	}
}
