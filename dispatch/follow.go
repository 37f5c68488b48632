package dispatch

import (
	"context"
	"sync"
	"time"

	"github.com/celeroot/celeroot/queue"
)

// LogReader is the part of the queue that following a run needs.
type LogReader interface {
	Logs(ctx context.Context, id, from string, block time.Duration) ([]queue.LogLine, string, error)
	Get(ctx context.Context, id string) (*queue.Run, error)
}

// followBlock is how long one read of a followed log waits for new lines
// before the run's state is checked.
const followBlock = 200 * time.Millisecond

// StreamLog hands the lines of run id to emit. Without follow it reads what
// the log holds now; with follow it goes on until the run is terminal and
// its last lines are read. It returns the run's last record.
func StreamLog(ctx context.Context, q LogReader, id string, follow bool, emit func(queue.LogLine)) (*queue.Run, error) {
	from := "0"
	for {
		block := time.Duration(0)
		if follow {
			block = followBlock
		}
		lines, next, err := q.Logs(ctx, id, from, block)
		if err != nil {
			return nil, ctxErr(ctx, err)
		}
		for _, l := range lines {
			emit(l)
		}
		from = next
		if len(lines) > 0 {
			continue
		}
		r, err := q.Get(ctx, id)
		if err != nil {
			return nil, ctxErr(ctx, err)
		}
		if !follow || r.State.Terminal() {
			// A worker writes all output before it completes the run: what
			// is left now is the tail.
			return r, drainLog(ctx, q, id, from, emit)
		}
	}
}

// drainLog emits the lines after from without waiting.
func drainLog(ctx context.Context, q LogReader, id, from string, emit func(queue.LogLine)) error {
	for {
		lines, next, err := q.Logs(ctx, id, from, 0)
		if err != nil || len(lines) == 0 {
			return err
		}
		for _, l := range lines {
			emit(l)
		}
		from = next
	}
}

// MaxFollowers caps the logs Follow reads at once (each holds a connection
// while it blocks); runs beyond it are followed as others end.
const MaxFollowers = 32

// Follow streams the logs of runs ids to their end, calling emit(i, line)
// for the lines of ids[i] (from several goroutines, one line at a time per
// run), and returns each run's final record. When ctx ends first, the runs
// not followed to their end have a nil record and a non-nil error.
func Follow(ctx context.Context, q LogReader, ids []string, emit func(i int, l queue.LogLine)) ([]*queue.Run, []error) {
	runs := make([]*queue.Run, len(ids))
	errs := make([]error, len(ids))
	sem := make(chan struct{}, MaxFollowers)
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			defer func() { <-sem }()
			runs[i], errs[i] = StreamLog(ctx, q, id, true, func(l queue.LogLine) { emit(i, l) })
			if errs[i] != nil {
				runs[i] = nil
			}
		})
	}
	wg.Wait()
	return runs, errs
}

// WorkerLister lists the live workers (heartbeats younger than the TTL).
type WorkerLister interface {
	Workers(ctx context.Context) ([]queue.Heartbeat, error)
}

// Unserved returns the indexes of the submissions no live worker can take:
// a host queue whose host sends no heartbeat, a role queue with no live
// worker of the role. Their runs stay queued until such a worker starts.
func Unserved(ctx context.Context, q WorkerLister, subs []*Submission) ([]int, error) {
	ws, err := q.Workers(ctx)
	if err != nil {
		return nil, err
	}
	hosts, roles := map[string]bool{}, map[string]bool{}
	for _, w := range ws {
		hosts[w.Host], roles[w.Role] = true, true
	}
	var out []int
	for i, s := range subs {
		if h, ok := queue.ParseHostQueue(s.Queue); ok && !hosts[h] || !ok && !roles[s.Role] {
			out = append(out, i)
		}
	}
	return out, nil
}

// ctxErr prefers the end of ctx to a read error its deadline caused: a
// read cut by the deadline fails with an i/o timeout a moment before ctx
// reports itself done (seen with cl task --wait --timeout).
func ctxErr(ctx context.Context, err error) error {
	if d, ok := ctx.Deadline(); ok && time.Until(d) < 50*time.Millisecond {
		queue.Sleep(ctx, 100*time.Millisecond)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
