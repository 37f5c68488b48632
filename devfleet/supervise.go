package devfleet

import (
	"context"
	"log/slog"
	"time"
)

// supervise runs fn until ctx is cancelled, restarting it when it returns
// early: at once after a clean return (a worker recycled by
// max_tasks_per_child), with backoff (1 s doubling to 30 s) after an error.
func supervise(ctx context.Context, log *slog.Logger, name string, fn func(context.Context) error) {
	backoff := time.Second
	for {
		err := fn(ctx)
		if ctx.Err() != nil {
			return
		}
		wait := time.Duration(0)
		if err != nil {
			log.Error("cl dev: service failed; restarting", "service", name, "err", err, "in", backoff)
			wait, backoff = backoff, min(2*backoff, 30*time.Second)
		} else {
			log.Info("cl dev: service restarting", "service", name)
			backoff = time.Second
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}
