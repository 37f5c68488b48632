package schedule

import (
	"context"
	"sync"
	"time"

	"github.com/celeroot/celeroot/queue"
)

// Reasons a leader stops leading (context.Cause of its leadership context).
var (
	ErrLeaseExpired = queue.ErrLeaseExpired // could not renew in time
	ErrLeaseLost    = queue.ErrLeaseTaken   // another beat holds the lease
	ErrSteppedDown  = queue.ErrSteppedDown  // `cl beat stop --leader`
)

// store is the beat's state in Redis, as the beat uses it;
// *queue.BeatStore implements it (it holds the keys and scripts).
type store interface {
	FireKey(schedule string, tickMS int64) string
	Cursors(ctx context.Context, lease string, now time.Time, names, fps []string) ([]int64, error)
	Claim(ctx context.Context, lease string, now time.Time, claims []queue.FireClaim) ([][]string, []error, error)
	Done(ctx context.Context, done []queue.FireDone) ([]error, error)
	Firing(ctx context.Context, n int) ([]string, error)
	FireState(ctx context.Context, key string) (state, plan string, err error)
	Unfire(ctx context.Context, key string) error
	Publish(ctx context.Context, set []byte, digest, sha, source string) (int64, error)
	ReadPublished(ctx context.Context, withSet bool) (*queue.Published, error)
	Announce(ctx context.Context, msg string) error
	Subscribe(ctx context.Context) *queue.Subscription
	PutMember(ctx context.Context, id string, raw []byte, seen time.Time, ttl time.Duration) error
	DeleteMember(ctx context.Context, id string) error
	Members(ctx context.Context) ([][]byte, error)
	Last(ctx context.Context) (map[string]string, error)
	ActiveFleet(ctx context.Context) (queue.FleetState, error)
}

// leaser takes the beat's fenced lease; *queue.Queue implements it.
type leaser interface {
	AcquireLease(ctx context.Context, n queue.LeaseName, info queue.LeaseInfo, ttl time.Duration) (*queue.Lease, error)
}

// lease is the beat's current hold of the leader lease (queue.LeaseBeat),
// nil between leaderships. Reads of the fire path see an ended hold as
// invalid.
type lease struct {
	mu sync.Mutex
	l  *queue.Lease
}

func (l *lease) set(h *queue.Lease) {
	l.mu.Lock()
	l.l = h
	l.mu.Unlock()
}

func (l *lease) get() *queue.Lease {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.l
}

// token returns the lease value and epoch while the lease is valid.
func (l *lease) token() (value string, epoch int64, ok bool) {
	if h := l.get(); h != nil {
		return h.Token()
	}
	return "", 0, false
}

// until is the end of the local validity.
func (l *lease) until() time.Time {
	if h := l.get(); h != nil {
		return h.Until()
	}
	return time.Time{}
}

// valid reports whether the lease is held and locally valid.
func (l *lease) valid() bool {
	_, _, ok := l.token()
	return ok
}

// drop forgets the lease locally (it is no longer valid).
func (l *lease) drop() {
	if h := l.get(); h != nil {
		h.Drop()
	}
}
