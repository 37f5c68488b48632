package agent

import (
	"context"

	"github.com/celeroot/celeroot/dispatch"
	"github.com/celeroot/celeroot/queue"
)

// Refresh re-reads the Redis parts of a status (workers, queues, running
// tasks, beat and agent leaders) at head and keeps prev's hosts as the
// last drift check saw them, with their workers' heartbeats updated: what
// `cl cluster monitor` does between two (slower, SSH) full checks.
func (d *DriftCheck) Refresh(ctx context.Context, head string, prev *ClusterStatus) (*ClusterStatus, error) {
	rev, err := d.Revisions.Revision(ctx, head)
	if err != nil {
		return nil, err
	}
	q := d.Fleet.Queue
	tasks, err := dispatch.Collect(ctx, rev.Config, q)
	if err != nil {
		return nil, err
	}
	st := *prev
	st.Tasks, st.ReadAt = tasks, d.now()
	if st.Beat, _, err = q.ReadLease(ctx, queue.LeaseBeat); err != nil {
		return nil, err
	}
	if st.Agent, _, err = q.ReadLease(ctx, queue.LeaseAgent); err != nil {
		return nil, err
	}
	beats := map[string]queue.Heartbeat{}
	for _, w := range tasks.Workers {
		beats[w.Host] = w
	}
	st.Hosts = make([]HostStatus, len(prev.Hosts))
	for i, h := range prev.Hosts {
		if hb, ok := beats[h.Host]; ok {
			h.Worker, h.Slots, h.Busy = hb.SHA, hb.Slots, hb.SlotsBusy
		} else {
			h.Slots, h.Busy = 0, 0
		}
		st.Hosts[i] = h
	}
	return &st, nil
}
