package queue

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Blue-green fleets (see docs/cluster.md). The queues of a fleet are its
// hosts' queues ("host:<name>": a host belongs to one fleet) and its role
// queues, FleetQueue(RoleQueue(r), fleet) = "role:<r>@<fleet>". Heartbeats,
// the applied state, the audit trail and the beat's state stay shared by the
// namespace. Which fleet is active is one hash in the beat's slot,
// "<prefix>{beat}:fleet" (active, gen, previous, switched_at, by), so the
// beat's claim script reads it in the same script that records a fire.

// FleetQueue returns the name of queue q for fleet: q itself when fleet is
// empty (no fleets) or q is a host queue, else "<q>@<fleet>".
func FleetQueue(q, fleet string) string {
	if fleet == "" || strings.HasPrefix(q, "host:") {
		return q
	}
	return q + "@" + fleet
}

// FleetState is the active fleet as recorded in Redis. Active is empty and
// Gen 0 until the first switch.
type FleetState struct {
	Active     string    `json:"active"`
	Gen        int64     `json:"generation"`
	Previous   string    `json:"previous,omitempty"`
	SwitchedAt time.Time `json:"switched_at,omitzero"`
	By         string    `json:"by,omitempty"`
}

func (k beatKeys) fleet() string { return k.p + "fleet" }

// ActiveFleet reads the active fleet.
func (q *Queue) ActiveFleet(ctx context.Context) (FleetState, error) {
	k := beatKeys{p: q.keys.prefix + "{beat}:"}
	m, err := q.rdb.HGetAll(ctx, k.fleet()).Result()
	if err != nil {
		return FleetState{}, fmt.Errorf("read the active fleet: %w", err)
	}
	return fleetState(m), nil
}

func fleetState(m map[string]string) FleetState {
	st := FleetState{Active: m["active"], Previous: m["previous"], By: m["by"]}
	st.Gen, _ = strconv.ParseInt(m["gen"], 10, 64)
	if ms, err := strconv.ParseInt(m["switched_at"], 10, 64); err == nil {
		st.SwitchedAt = time.UnixMilli(ms)
	}
	return st
}

// SwitchFleet makes fleet to the active one and returns the new state
// (changed is false when it was active already; nothing is written then).
// from is the fleet the caller believes active ("" when none was recorded
// yet): when another switch happened meanwhile the switch is refused.
func (q *Queue) SwitchFleet(ctx context.Context, from, to, by string) (st FleetState, changed bool, err error) {
	k := beatKeys{p: q.keys.prefix + "{beat}:"}
	res, err := scriptFleetSwitch.Run(ctx, q.rdb, []string{k.fleet()}, from, to, by, time.Now().UnixMilli()).StringSlice()
	if err != nil {
		return FleetState{}, false, fmt.Errorf("switch to fleet %s: %w", to, err)
	}
	switch res[0] {
	case "moved":
		return FleetState{}, false, fmt.Errorf("switch to fleet %s: the active fleet changed meanwhile (now %q): check `cl cluster status` and retry", to, res[1])
	case "same":
		changed = false
	default:
		changed = true
	}
	st, err = q.ActiveFleet(ctx)
	return st, changed, err
}

// fleet switch: KEYS fleet; ARGV from, to, by, now-ms.
var scriptFleetSwitch = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'active') or ''
if cur == ARGV[2] then return {'same', cur} end
if cur ~= ARGV[1] then return {'moved', cur} end
redis.call('HSET', KEYS[1], 'active', ARGV[2], 'previous', ARGV[1], 'switched_at', ARGV[4], 'by', ARGV[3])
redis.call('HINCRBY', KEYS[1], 'gen', 1)
return {'switched', cur}
`)

// DeleteQueues deletes every key of the given queues (streams, runs, leases,
// idempotency keys, control streams) and the per-run keys (queue pointer,
// log) of the runs found in them. It returns how many keys it deleted.
// Used by `cl cluster destroy` for the queues of a fleet.
func (q *Queue) DeleteQueues(ctx context.Context, queues []string) (int, error) {
	n := 0
	for _, name := range queues {
		if err := checkQueue(name); err != nil {
			return n, err
		}
		prefix := q.keys.prefix + "{" + name + "}:"
		var keys []string
		err := scanPrefix(ctx, q.rdb, prefix, func(_ redis.Cmdable, found []string) error {
			for _, key := range found {
				keys = append(keys, key)
				if id, ok := strings.CutPrefix(key, prefix+"run:"); ok {
					keys = append(keys, q.keys.Where(id), q.keys.Log(id), q.keys.LogCut(id))
				}
			}
			return nil
		})
		if err != nil {
			return n, fmt.Errorf("delete queue %s: %w", name, err)
		}
		for _, key := range keys { // one by one: the keys live in several slots
			d, err := q.rdb.Del(ctx, key).Result()
			if err != nil {
				return n, fmt.Errorf("delete queue %s: %w", name, err)
			}
			n += int(d)
		}
	}
	return n, nil
}

// ActiveFleet reads the active fleet (the beat's view of it).
func (s *BeatStore) ActiveFleet(ctx context.Context) (FleetState, error) { return s.q.ActiveFleet(ctx) }
