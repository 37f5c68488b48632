package dispatch

import (
	"context"
	"time"
)

// BeatStatus is the scheduler's part of the status: who leads (the lease
// holder and when its lease expires), how many beats run, and each
// schedule's last fire. Package schedule reads it (schedule.StatusOf).
type BeatStatus struct {
	// Leader is nil when no beat holds the lease: nothing fires.
	Leader *BeatLeader `json:"leader"`
	// Beats counts the beats (leader and standbys) that reported within
	// three leases.
	Beats int `json:"beats"`
	// LastFires holds each schedule's last fire, by schedule name.
	LastFires []BeatFire `json:"last_fires"`
}

// BeatLeader is the beat holding the leader lease.
type BeatLeader struct {
	ID      string    `json:"id"`
	Host    string    `json:"host"`
	PID     int       `json:"pid"`
	Version string    `json:"version,omitempty"`
	Since   time.Time `json:"since"`
	Epoch   int64     `json:"epoch"`
	// LeaseExpires is when the lease runs out unless renewed (a third of a
	// lease before, normally); a standby takes over after it.
	LeaseExpires time.Time `json:"lease_expires"`
}

// BeatFire is a schedule's last fire: the tick, the beat that fired it,
// and the hosts it reached.
type BeatFire struct {
	Schedule   string    `json:"schedule"`
	Tick       time.Time `json:"tick"`
	Beat       string    `json:"beat"`
	Hosts      int       `json:"hosts"`
	Enqueued   int       `json:"enqueued"`
	Duplicates int       `json:"duplicates"`
	Errors     int       `json:"errors"`
	Error      string    `json:"error,omitempty"`
}

// BeatReader reads the beat's status; schedule.StatusOf gives one.
type BeatReader interface {
	BeatStatus(ctx context.Context) (*BeatStatus, error)
}

// CollectOption adds a part to what Collect reads.
type CollectOption func(*collectOptions)

type collectOptions struct {
	beat BeatReader
}

// WithBeat makes Collect read the beat's status too (Status.Beat).
func WithBeat(r BeatReader) CollectOption {
	return func(o *collectOptions) { o.beat = r }
}
