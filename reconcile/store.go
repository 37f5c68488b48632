package reconcile

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// Docs is versioned document storage with compare-and-swap (package queue
// implements it on Redis).
type Docs interface {
	LoadDoc(ctx context.Context, name string) (version int64, data []byte, err error)
	// SwapDoc writes data as the next version when the stored version is
	// still version; ok is false when it is not (nothing written).
	SwapDoc(ctx context.Context, name string, version int64, data []byte) (newVersion int64, ok bool, err error)
	MarkOnce(ctx context.Context, set, member string) (bool, error)
}

// stateDoc is the name of the applied-state document.
const stateDoc = "applied"

// DocStore is the Store kept as one document in Docs.
type DocStore struct{ Docs Docs }

// swapAttempts bounds the compare-and-swap retries of one write.
const swapAttempts = 5

// Load returns the applied state, creating the cluster id on first use.
func (s DocStore) Load(ctx context.Context) (State, error) {
	for range swapAttempts {
		st, v, err := s.read(ctx)
		if err != nil || st.ClusterID != "" {
			return st, err
		}
		st.ClusterID = newID()
		if ok, err := s.write(ctx, v, st); err != nil {
			return State{}, err
		} else if ok {
			return st, nil
		}
	}
	return State{}, fmt.Errorf("create the cluster id: the applied state keeps changing; try again")
}

// Record stores an apply's outcome (see Store).
func (s DocStore) Record(ctx context.Context, o Outcome) (State, error) {
	for range swapAttempts {
		st, v, err := s.read(ctx)
		if err != nil {
			return State{}, err
		}
		if o.Repair {
			for h, r := range o.Hosts {
				st.Hosts[h] = r
			}
			if ok, err := s.write(ctx, v, st); err != nil {
				return State{}, err
			} else if ok {
				return st, nil
			}
			continue
		}
		if o.Fleet != "" {
			recordFleet(&st, o)
			if ok, err := s.write(ctx, v, st); err != nil {
				return State{}, err
			} else if ok {
				return st, nil
			}
			continue
		}
		if st.Generation != o.Expect {
			return st, fmt.Errorf("%w: another apply moved the cluster to generation %d (%s) meanwhile", ErrStale, st.Generation, orNone(st.SHA))
		}
		for h, r := range o.Hosts {
			st.Hosts[h] = r
		}
		for _, h := range o.Remove {
			delete(st.Hosts, h)
		}
		if o.OK {
			st.SHA, st.Generation, st.Applied = o.SHA, st.Generation+1, o.At
			delete(st.Bad, o.SHA)
			st.Fleets = nil // every fleet is at o.SHA now
		} else {
			b := st.Bad[o.SHA]
			st.Bad[o.SHA] = BadSHA{Attempts: b.Attempts + 1, Last: o.At, Error: o.Error}
		}
		pruneBad(st.Bad)
		if ok, err := s.write(ctx, v, st); err != nil {
			return State{}, err
		} else if ok {
			return st, nil
		}
	}
	return State{}, fmt.Errorf("record the apply: the applied state keeps changing; try again")
}

// recordFleet records a fleet-only apply: its hosts, and its fleet's SHA.
func recordFleet(st *State, o Outcome) {
	for h, r := range o.Hosts {
		st.Hosts[h] = r
	}
	for _, h := range o.Remove {
		delete(st.Hosts, h)
	}
	if st.Fleets == nil {
		st.Fleets = map[string]FleetApplied{}
	}
	f := st.Fleets[o.Fleet]
	f.OK, f.Error, f.At = o.OK, o.Error, o.At
	if o.OK {
		f.SHA, f.Applied = o.SHA, o.At
	}
	st.Fleets[o.Fleet] = f
}

// UsePlan marks a plan id used.
func (s DocStore) UsePlan(ctx context.Context, id string) (bool, error) {
	return s.Docs.MarkOnce(ctx, "plans", id)
}

func (s DocStore) read(ctx context.Context) (State, int64, error) {
	v, data, err := s.Docs.LoadDoc(ctx, stateDoc)
	if err != nil {
		return State{}, 0, fmt.Errorf("read the applied state: %w", err)
	}
	var st State
	if len(data) > 0 {
		if err := json.Unmarshal(data, &st); err != nil {
			return State{}, 0, fmt.Errorf("read the applied state: %w (restore it from a backup, or delete it to start over)", err)
		}
	}
	if st.Hosts == nil {
		st.Hosts = map[string]HostApplied{}
	}
	if st.Bad == nil {
		st.Bad = map[string]BadSHA{}
	}
	return st, v, nil
}

// write swaps in st; false when the state changed since version v.
func (s DocStore) write(ctx context.Context, v int64, st State) (bool, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return false, err
	}
	_, ok, err := s.Docs.SwapDoc(ctx, stateDoc, v, b)
	if err != nil {
		return false, fmt.Errorf("write the applied state: %w", err)
	}
	return ok, nil
}

// maxBad bounds the bad SHAs remembered: the oldest are forgotten.
const maxBad = 50

func pruneBad(bad map[string]BadSHA) {
	for len(bad) > maxBad {
		oldest := ""
		for sha, b := range bad {
			if oldest == "" || b.Last.Before(bad[oldest].Last) {
				oldest = sha
			}
		}
		delete(bad, oldest)
	}
}

func newID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
