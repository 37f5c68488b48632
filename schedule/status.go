package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/celeroot/celeroot/dispatch"
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
	// Fleet is the active blue-green fleet the beats fire to (nil when the
	// published set has no fleets and no switch was ever made).
	Fleet *FleetStatus `json:"fleet,omitempty"`
}

// FleetStatus is the active fleet as `cl beat status` shows it.
type FleetStatus struct {
	queue.FleetState
	// Default: no switch yet; the active fleet is the published set's
	// first fleet.
	Default bool `json:"default,omitempty"`
}

// LeaderInfo describes the lease holder: the status read model's
// dispatch.BeatLeader, with the time left on its lease.
type LeaderInfo struct {
	dispatch.BeatLeader
	ExpiresInMS int64 `json:"expires_in_ms"`
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
	bs := q.Beat()
	st := &Status{Namespace: q.Namespace().String()}
	var err error
	if st.Leader, err = readLeader(ctx, q); err != nil {
		return nil, err
	}
	if st.Beats, err = readMembers(ctx, bs); err != nil {
		return nil, err
	}
	if st.Published, err = readPublished(ctx, bs, true); err != nil {
		return nil, err
	}
	fs, err := bs.ActiveFleet(ctx)
	if err != nil {
		return nil, err
	}
	def := ""
	if st.Published != nil {
		def = st.Published.Set.DefaultFleet()
	}
	switch {
	case fs.Active != "":
		st.Fleet = &FleetStatus{FleetState: fs}
	case def != "":
		fs.Active = def
		st.Fleet = &FleetStatus{FleetState: fs, Default: true}
	}
	if st.Published == nil {
		return st, nil
	}
	last, err := readLast(ctx, bs)
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

// leaseReader reads the beat's lease; *queue.Queue implements it.
type leaseReader interface {
	ReadLease(ctx context.Context, n queue.LeaseName) (*queue.LeaseInfo, time.Duration, error)
}

func readLeader(ctx context.Context, r leaseReader) (*LeaderInfo, error) {
	li, ttl, err := r.ReadLease(ctx, queue.LeaseBeat)
	if err != nil || li == nil {
		return nil, err
	}
	return &LeaderInfo{BeatLeader: dispatch.BeatLeader{ID: li.ID, Host: li.Host, PID: li.PID, Version: li.Version, Since: li.Since,
		Epoch: li.Epoch, LeaseExpires: time.Now().Add(ttl)}, ExpiresInMS: ttl.Milliseconds()}, nil
}

// Members returns the beats of q's namespace that reported within three
// leases.
func Members(ctx context.Context, q *queue.Queue) ([]Member, error) {
	return readMembers(ctx, q.Beat())
}

func readMembers(ctx context.Context, st store) ([]Member, error) {
	raws, err := st.Members(ctx)
	if err != nil {
		return nil, err
	}
	out := []Member{}
	for _, raw := range raws {
		var m Member
		if json.Unmarshal(raw, &m) == nil {
			out = append(out, m)
		}
	}
	return out, nil
}

func readLast(ctx context.Context, st store) (map[string]*FireRecord, error) {
	h, err := st.Last(ctx)
	if err != nil {
		return nil, err
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
	v, err := q.StepDown(ctx, queue.LeaseBeat, time.Minute)
	if err != nil || v == "" {
		return "", "", err
	}
	deadline := time.Now().Add(wait)
	for {
		cur, err := q.LeaseValue(ctx, queue.LeaseBeat)
		if err != nil {
			return v, "", fmt.Errorf("watch beat leader: %w", err)
		}
		if cur != v && (cur != "" || time.Now().After(deadline)) {
			return v, cur, nil
		}
		if time.Now().After(deadline) {
			return v, cur, fmt.Errorf("leader %s did not step down within %v", v, wait)
		}
		if !queue.Sleep(ctx, 100*time.Millisecond) {
			return v, "", ctx.Err()
		}
	}
}

// WaitReady waits up to wait until beat id reports leader or standby in
// q's namespace. exited, when set, is asked between polls whether the
// beat's process has ended (and how): a beat that died fails at once.
func WaitReady(ctx context.Context, q *queue.Queue, id string, wait time.Duration, exited func() (string, bool)) (Role, error) {
	deadline := time.Now().Add(wait)
	for {
		if exited != nil {
			if how, done := exited(); done {
				return "", fmt.Errorf("the new beat exited (%s)", how)
			}
		}
		if ms, err := Members(ctx, q); err == nil {
			for _, m := range ms {
				if m.ID == id && (m.Role == RoleLeader || m.Role == RoleStandby) {
					return m.Role, nil
				}
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("the new beat %s did not report leader or standby within %v", id, wait)
		}
		if !queue.Sleep(ctx, 100*time.Millisecond) {
			return "", ctx.Err()
		}
	}
}

// StatusOf reads the beat's part of the cluster status (dispatch.Collect
// with dispatch.WithBeat) from q's namespace.
func StatusOf(q *queue.Queue) dispatch.BeatReader { return beatStatusReader{q} }

type beatStatusReader struct{ q *queue.Queue }

// BeatStatus reads the leader lease, the live beats and the last fires.
func (r beatStatusReader) BeatStatus(ctx context.Context) (*dispatch.BeatStatus, error) {
	bs := r.q.Beat()
	out := &dispatch.BeatStatus{LastFires: []dispatch.BeatFire{}}
	l, err := readLeader(ctx, r.q)
	if err != nil {
		return nil, err
	}
	if l != nil {
		out.Leader = &l.BeatLeader
	}
	ms, err := readMembers(ctx, bs)
	if err != nil {
		return nil, err
	}
	out.Beats = len(ms)
	last, err := readLast(ctx, bs)
	if err != nil {
		return nil, err
	}
	for _, name := range slices.Sorted(maps.Keys(last)) {
		f := last[name]
		out.LastFires = append(out.LastFires, dispatch.BeatFire{Schedule: name, Tick: f.Tick, Beat: f.Beat, Hosts: f.Hosts,
			Enqueued: f.Enqueued, Duplicates: f.Duplicates, Errors: f.Errors, Error: f.Error})
	}
	return out, nil
}
