package schedule

import (
	"context"
	"encoding/json"
	"os"
	"time"
)

// Member is one running beat as it reports itself in Redis every third of
// a lease ("<prefix>{beat}:member:<id>", expiring after three leases).
type Member struct {
	ID        string    `json:"id"`
	Host      string    `json:"host"`
	PID       int       `json:"pid"`
	Version   string    `json:"version,omitempty"`
	Role      Role      `json:"role"`
	RoleSince time.Time `json:"role_since"`
	Started   time.Time `json:"started"`
	SHA       string    `json:"sha,omitempty"`
	Digest    string    `json:"digest"`
	Gen       int64     `json:"gen"`
	Schedules int       `json:"schedules"`
	NextFire  time.Time `json:"next_fire,omitzero"`
	Seen      time.Time `json:"seen"`
	// Fleet and FleetGen: the active blue-green fleet as the beat last read
	// it ("" and 0 before the first switch); `cl cluster switch` waits for
	// every beat to report the new generation.
	Fleet    string `json:"fleet,omitempty"`
	FleetGen int64  `json:"fleet_gen"`
}

func (b *Beat) member() Member {
	host, _ := os.Hostname()
	ld := b.cur.Load()
	b.mu.Lock()
	defer b.mu.Unlock()
	m := Member{ID: b.opt.ID, Host: host, PID: os.Getpid(), Version: b.opt.Version, Role: b.role, RoleSince: b.roleSince,
		Started: b.started, SHA: ld.set.SHA, Digest: ld.digest, Gen: ld.gen, Schedules: len(ld.set.Schedules), Seen: time.Now(),
		Fleet: b.fleet.Active, FleetGen: b.fleet.Gen}
	if b.role == RoleLeader {
		m.NextFire = b.next
	}
	return m
}

// heartbeat writes the member record every third of a lease, and at once
// when the role changes.
func (b *Beat) heartbeat(ctx context.Context) {
	t := time.NewTicker(b.opt.Lease / 3)
	defer t.Stop()
	for {
		b.writeMember(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-b.told:
		}
	}
}

func (b *Beat) writeMember(ctx context.Context) {
	m := b.member()
	raw, err := json.Marshal(m)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, b.opt.Lease/3)
	defer cancel()
	ttl := 3 * b.opt.Lease
	if err := b.st.PutMember(ctx, m.ID, raw, m.Seen, ttl); err != nil {
		b.log.Debug("write member record", "err", err)
	}
}

// deregister removes the member record when the beat stops.
func (b *Beat) deregister() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = b.st.DeleteMember(ctx, b.opt.ID)
}
