package devfleet

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/celeroot/celeroot/reconcile"
	"github.com/celeroot/celeroot/schedule"
)

// Beat describes the scheduler of cl dev, for the banner.
type Beat struct {
	ID        string   `json:"id"`
	Role      string   `json:"role"`      // leader once it holds the lease
	Schedules []string `json:"schedules"` // enabled schedules of the set it started with
}

// devBeat is the running beat: the same code as `cl beat` (without a
// pidfile: cl dev owns its Redis). It starts with the schedules of the
// repository's head and follows the sets the agent publishes.
type devBeat struct {
	id        string
	schedules []string
	role      atomic.Value // schedule.Role
}

func (d *Dev) startBeat(ctx context.Context, o Options, rev *reconcile.Revision) (*devBeat, error) {
	hn, _ := os.Hostname()
	b := &devBeat{id: fmt.Sprintf("dev-%s-%d", hn, os.Getpid()), schedules: []string{}}
	b.role.Store(schedule.RoleStarting)
	set := schedule.FromConfig(rev.Config, rev.SHA, "cl dev")
	for _, sp := range set.Schedules {
		if sp.Enabled {
			b.schedules = append(b.schedules, sp.Name)
		}
	}
	if set.Backup != nil {
		b.schedules = append(b.schedules, schedule.BackupName)
	}
	opts := schedule.Options{ID: b.id, Version: o.Version, Logger: o.Log, FireTTL: rev.Config.Redis.TaskTTL.D(),
		OnRole: func(r schedule.Role) { b.role.Store(r) }}
	next, err := schedule.NewFromSet(set, o.Queue, opts) // a bad option fails cl dev at once
	if err != nil {
		return nil, fmt.Errorf("cl dev: beat: %w", err)
	}
	// Beat.Run runs once per Beat: a beat that returned early is replaced,
	// adopting the published set.
	d.wg.Go(func() {
		supervise(ctx, o.Log, "beat", func(ctx context.Context) error {
			bt := next
			next = nil
			if bt == nil {
				var err error
				if bt, err = schedule.NewFromSet(set, o.Queue, opts); err != nil {
					return err
				}
			}
			return bt.Run(ctx)
		})
	})
	return b, nil
}

// wait waits (up to 10 s) until the beat has campaigned for the lease, so
// that `cl beat status` shows it at once.
func (b *devBeat) wait(ctx context.Context, log *slog.Logger) {
	deadline := time.Now().Add(10 * time.Second)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		if r := b.role.Load().(schedule.Role); r == schedule.RoleLeader || r == schedule.RoleStandby {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ctx.Err() == nil {
		log.Warn("cl dev: the beat has not taken the lease within 10s; see `cl beat status`")
	}
}

func (b *devBeat) info() *Beat {
	return &Beat{ID: b.id, Role: string(b.role.Load().(schedule.Role)), Schedules: b.schedules}
}
