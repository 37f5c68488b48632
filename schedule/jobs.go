package schedule

import (
	"context"
	"strconv"
	"time"

	"github.com/celeroot/celeroot/queue"
)

// Job is work of the scheduler's own, not a task: it runs in the beat
// process of the leader at each tick of its cron (key rotation, with
// ssh.key_rotation.enabled). A tick runs at most once in a namespace,
// across leader changes: the leader marks it in Redis before running it.
type Job struct {
	// Name identifies the job in Redis and in the log.
	Name string
	Cron *Cron
	Run  func(ctx context.Context) error
}

// runJob waits for each tick of j and, while this beat leads, runs it.
func (b *Beat) runJob(ctx context.Context, j Job) {
	after := time.Now()
	for {
		next, err := j.Cron.Next(after)
		if err != nil {
			b.log.Warn("job never runs again", "job", j.Name, "err", err)
			return
		}
		for d := time.Until(next); d > 0; d = time.Until(next) {
			if !queue.Sleep(ctx, min(d, maxSleep)) { // a step of the wall clock is noticed
				return
			}
		}
		after = next
		if !b.Role().Leading() {
			continue
		}
		first, err := b.q.MarkOnce(ctx, "job:"+j.Name, strconv.FormatInt(next.UnixMilli(), 10))
		if err != nil {
			b.log.Error("job tick not run: its record could not be written", "job", j.Name, "tick", next, "err", err)
			continue
		}
		if !first {
			continue // another leader ran this tick
		}
		b.log.Info("job starting", "job", j.Name, "tick", next)
		if err := j.Run(ctx); err != nil {
			b.log.Error("job failed", "job", j.Name, "tick", next, "err", err)
			continue
		}
		b.log.Info("job done", "job", j.Name, "tick", next)
	}
}
