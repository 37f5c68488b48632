package agent

import (
	"context"

	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/reconcile"
	"github.com/celeroot/celeroot/schedule"
)

// ScheduleStore publishes a revision's schedule set to the beats of a
// namespace and reads the set they run: the Publisher of an apply and the
// Schedules of a plan, for the agent's fleet and for cl dev's.
type ScheduleStore struct {
	Queue *queue.Queue
	// Source names the publisher in `cl beat status` ("agent", "cl dev").
	Source string
}

// PublishSchedules publishes rev's schedule set.
func (s ScheduleStore) PublishSchedules(ctx context.Context, rev *reconcile.Revision) error {
	_, err := schedule.Publish(ctx, s.Queue, schedule.FromConfig(rev.Config, rev.SHA, s.Source))
	return err
}

// Published returns the schedule set the beats run (nil: none).
func (s ScheduleStore) Published(ctx context.Context) (*schedule.Set, error) {
	p, err := schedule.ReadPublished(ctx, s.Queue)
	if err != nil || p == nil {
		return nil, err
	}
	return p.Set, nil
}
