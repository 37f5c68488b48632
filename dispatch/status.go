package dispatch

import (
	"context"
	"slices"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/queue"
)

// Status is the cluster's read model, the overview `cl task status`
// prints: live workers, hosts without one, the depth of every queue, the
// running runs and (WithBeat) the beat: its leader, lease and last fires.
type Status struct {
	Workers []queue.Heartbeat  `json:"workers"`      // live workers, from their heartbeats
	Silent  []string           `json:"silent_hosts"` // hosts of cl.yaml without a live heartbeat
	Queues  []queue.QueueStats `json:"queues"`       // every configured queue (role queues, then host queues), then any other known one
	Running []RunView          `json:"running"`
	// Beat is the scheduler's status, when asked for (WithBeat).
	Beat *BeatStatus `json:"beat,omitempty"`
	// ReadAt is when the queue depths and running runs were read; worker
	// counters (processed, failed, busy slots) are as of each heartbeat's
	// time, at most HeartbeatEvery old.
	ReadAt         time.Time     `json:"read_at"`
	HeartbeatEvery time.Duration `json:"heartbeat_every_ns"`
}

// RunView is a run with the host it is for (host queue) or ran on (role
// queue).
type RunView struct {
	Host string `json:"host"`
	*queue.Run
}

// View pairs r with its host.
func View(r *queue.Run) RunView { return RunView{Host: RunHost(r), Run: r} }

// RunHost is the host a run is for (host queue) or ran on (role queue);
// the queue when neither is known.
func RunHost(r *queue.Run) string {
	if h, ok := queue.ParseHostQueue(r.Target); ok {
		return h
	}
	if r.Worker != "" {
		return r.Worker
	}
	return r.Target
}

// StatusReader is the part of the queue Collect needs.
type StatusReader interface {
	WorkerLister
	Queues(ctx context.Context) ([]string, error)
	Stats(ctx context.Context, queues ...string) ([]queue.QueueStats, error)
	Running(ctx context.Context, queues ...string) ([]*queue.Run, error)
	HeartbeatTTL() time.Duration
}

// ConfiguredQueues are the queues cfg's workers consume: each role's queue
// (in role order), then each host's queue (in host order).
// With fleets, each fleet has its own role queues ("role:<q>@<fleet>", in
// fleet order).
func ConfiguredQueues(cfg *config.Config) []string {
	var out []string
	fleets := cfg.Fleets()
	if len(fleets) == 0 {
		fleets = []string{""}
	}
	for _, f := range fleets {
		for _, w := range cfg.Workers.Values() {
			if q := queue.FleetQueue(queue.RoleQueue(w.Queue), f); !slices.Contains(out, q) {
				out = append(out, q)
			}
		}
	}
	for _, h := range cfg.Hosts.Values() {
		out = append(out, queue.HostQueue(h.Name))
	}
	return out
}

// Collect reads heartbeats, the depth of every configured queue (empty ones
// too) and of any other queue that had runs, the running runs and, with
// WithBeat, the beat's status.
func Collect(ctx context.Context, cfg *config.Config, q StatusReader, opts ...CollectOption) (*Status, error) {
	var o collectOptions
	for _, opt := range opts {
		opt(&o)
	}
	st := &Status{Workers: []queue.Heartbeat{}, Silent: []string{}, Running: []RunView{}, HeartbeatEvery: q.HeartbeatTTL() / 3}
	ws, err := q.Workers(ctx)
	if err != nil {
		return nil, err
	}
	st.Workers = append(st.Workers, ws...)
	live := map[string]bool{}
	for _, w := range ws {
		live[w.Host] = true
	}
	for _, h := range cfg.Hosts.Values() {
		if !live[h.Name] {
			st.Silent = append(st.Silent, h.Name)
		}
	}
	queues := ConfiguredQueues(cfg)
	known, err := q.Queues(ctx)
	if err != nil {
		return nil, err
	}
	for _, k := range known {
		if !slices.Contains(queues, k) {
			queues = append(queues, k)
		}
	}
	st.ReadAt = time.Now()
	if st.Queues, err = q.Stats(ctx, queues...); err != nil {
		return nil, err
	}
	if st.Queues == nil {
		st.Queues = []queue.QueueStats{}
	}
	running, err := q.Running(ctx, queues...)
	if err != nil {
		return nil, err
	}
	for _, r := range running {
		st.Running = append(st.Running, View(r))
	}
	if o.beat != nil {
		if st.Beat, err = o.beat.BeatStatus(ctx); err != nil {
			return nil, err
		}
	}
	return st, nil
}
