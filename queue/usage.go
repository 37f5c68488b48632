package queue

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Usage is what a namespace holds, in a few words: how `cl cluster init`
// tells that a cluster name is taken.
type Usage struct {
	Prefix     string   `json:"prefix"`
	Keys       int      `json:"keys"`
	Heartbeats []string `json:"heartbeats,omitempty"` // hosts
	BeatLeader bool     `json:"beat_leader,omitempty"`
	Applied    bool     `json:"applied,omitempty"` // the agent's applied state
	Queues     int      `json:"queues,omitempty"`
	Runs       int      `json:"runs,omitempty"`
	Audit      bool     `json:"audit,omitempty"` // an audit trail
}

// Empty reports whether the namespace holds no key.
func (u Usage) Empty() bool { return u.Keys == 0 }

// String is "cl:shop:default: 12 keys (heartbeats of web1, the beat leader)".
func (u Usage) String() string {
	var what []string
	if len(u.Heartbeats) > 0 {
		what = append(what, "heartbeats of "+strings.Join(u.Heartbeats, ", "))
	}
	if u.BeatLeader {
		what = append(what, "the beat leader")
	}
	if u.Applied {
		what = append(what, "an applied state")
	}
	if u.Audit {
		what = append(what, "an audit trail")
	}
	if u.Queues > 0 {
		what = append(what, fmt.Sprintf("%d queue streams", u.Queues))
	}
	if u.Runs > 0 {
		what = append(what, fmt.Sprintf("%d run records", u.Runs))
	}
	s := fmt.Sprintf("%s %d keys", u.Prefix, u.Keys)
	if len(what) > 0 {
		s += " (" + strings.Join(what, ", ") + ")"
	}
	return s
}

// Usage scans q's namespace and says what is there.
func (q *Queue) Usage(ctx context.Context) (Usage, error) {
	u := Usage{Prefix: q.keys.prefix}
	hb := q.keys.Heartbeat("")
	b := q.Beat().k
	err := scanPrefix(ctx, q.rdb, q.keys.prefix, func(_ redis.Cmdable, keys []string) error {
		for _, k := range keys {
			u.Keys++
			switch {
			case strings.HasPrefix(k, hb):
				u.Heartbeats = append(u.Heartbeats, strings.TrimPrefix(k, hb))
			case k == b.leader():
				u.BeatLeader = true
			case k == q.keys.docKey("applied"):
				u.Applied = true
			case k == q.keys.AuditLog() || k == q.keys.AuditHead():
				u.Audit = true
			case strings.HasSuffix(k, "}:stream"):
				u.Queues++
			case strings.Contains(k, "}:run:"):
				u.Runs++
			}
		}
		return nil
	})
	sort.Strings(u.Heartbeats)
	if err != nil {
		return u, fmt.Errorf("read namespace %s: %w", q.Namespace(), err)
	}
	return u, nil
}
