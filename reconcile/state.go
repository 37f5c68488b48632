package reconcile

import (
	"context"
	"errors"
	"time"
)

// State is the applied state of a cluster namespace, kept in Redis: the
// last applied SHA and its generation, what each host got, and the SHAs
// whose apply failed.
type State struct {
	ClusterID  string                 `json:"cluster_id"`
	Generation int64                  `json:"generation"`
	SHA        string                 `json:"sha"` // "" : never applied
	Applied    time.Time              `json:"applied"`
	Hosts      map[string]HostApplied `json:"hosts"`
	Bad        map[string]BadSHA      `json:"bad,omitempty"`
	// Fleets are the SHAs applied to single blue-green fleets by fleet-only
	// plans (cl apply --cluster F) since the last full apply, which clears
	// them (every fleet is then at SHA).
	Fleets map[string]FleetApplied `json:"fleets,omitempty"`
}

// FleetApplied is what a fleet-only apply recorded for its fleet: the last
// SHA applied to all of its hosts, and the outcome of the last attempt.
type FleetApplied struct {
	SHA     string    `json:"sha"` // "" : no fleet-only apply succeeded yet
	Applied time.Time `json:"applied,omitzero"`
	OK      bool      `json:"ok"` // the last attempt succeeded
	Error   string    `json:"error,omitempty"`
	At      time.Time `json:"at"` // the last attempt
}

// BadSHA is a commit whose apply failed. It is retried with backoff and
// never blocks a newer commit.
type BadSHA struct {
	Attempts int       `json:"attempts"`
	Last     time.Time `json:"last"`
	Error    string    `json:"error"`
}

// Retry backoff of a bad SHA: 2 s, then ×3 per attempt, capped at 5 min.
const (
	retryBase = 2 * time.Second
	retryMax  = 5 * time.Minute
)

// RetryAt is when a bad SHA may be applied again.
func (b BadSHA) RetryAt() time.Time {
	d := retryBase
	for i := 1; i < b.Attempts && d < retryMax; i++ {
		d *= 3
	}
	return b.Last.Add(min(d, retryMax))
}

// Outcome is what an apply did, as recorded.
type Outcome struct {
	// Expect is the generation the apply started from; recording fails
	// with ErrStale when another apply advanced it meanwhile.
	Expect int64
	SHA    string
	Hosts  map[string]HostApplied // per-host results (deployed and failed hosts)
	Remove []string               // hosts removed: forgotten
	OK     bool                   // everything succeeded: advance to SHA
	// Repair: a drift repair (cl cluster reconcile, self-heal) that put
	// hosts back on what was applied to them: only Hosts are recorded; the
	// SHA, generation and bad SHAs stay.
	Repair bool
	// Fleet: a fleet-only apply (cl apply --cluster F): Hosts and Remove
	// are recorded and the fleet's own SHA when OK; the cluster's SHA,
	// generation and bad SHAs stay.
	Fleet string
	Error string // why not
	At    time.Time
}

// Store keeps the applied state (package queue implements it on Redis).
type Store interface {
	// Load returns the state, creating the cluster id on first use.
	Load(ctx context.Context) (State, error)
	// Record stores an apply's outcome atomically: host results; when OK,
	// the new SHA and generation+1 (and the SHA is no longer bad);
	// otherwise the SHA's failure. It returns the new state.
	Record(ctx context.Context, o Outcome) (State, error)
	// UsePlan marks a plan id used; false when it already was.
	UsePlan(ctx context.Context, id string) (bool, error)
}

// ErrStale is matched by the error of applying a plan made against another
// state than the current one.
var ErrStale = errors.New("the plan is stale")
