package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// KillResult says what Kill did.
type KillResult string

// The outcomes of Kill.
const (
	// KillDone: the run had not started (or its worker was gone); it is now killed.
	KillDone KillResult = "killed"
	// KillSignalled: the run is running; its worker was told through its
	// control stream and will report it killed.
	KillSignalled KillResult = "signalled"
	// KillTooLate: the run had already finished; nothing changed.
	KillTooLate KillResult = "finished"
)

// ControlOp is what a control message asks a worker to do.
type ControlOp string

// ControlKill asks the worker running Run to kill it.
const ControlKill ControlOp = "kill"

// Control is a message on a host's control stream.
type Control struct {
	ID  string    // stream entry id, for AckControl
	Op  ControlOp // ControlKill
	Run string    // run id
}

// Kill cancels a run durably. A queued or retrying run is killed at once and
// will never start (the start script checks the cancel key). A running run
// gets its cancel key set and a kill message on its worker's control stream,
// which survives the worker being offline; the worker stops the task and
// completes it as killed. Renew also reports the kill, as a second path.
func (q *Queue) Kill(ctx context.Context, id string) (KillResult, error) {
	target, err := q.where(ctx, id)
	if err != nil {
		return "", fmt.Errorf("kill: %w", err)
	}
	keys := []string{q.keys.Run(target, id), q.keys.Cancel(target, id), q.keys.Stream(target),
		q.keys.Delayed(target), q.keys.Running(target), q.keys.Lease(target, id), q.keys.Finished(target)}
	octx, cancel := q.op(ctx)
	defer cancel()
	res, err := scriptKill.Run(octx, q.rdb, keys, id, time.Now().UnixMilli(),
		q.opt.runTTL.Milliseconds(), group).StringSlice()
	if err != nil {
		return "", fmt.Errorf("kill run %s: %w", id, err)
	}
	switch res[0] {
	case "missing":
		return "", fmt.Errorf("kill run %s: %w", id, ErrNotFound)
	case "terminal":
		return KillTooLate, nil
	case "killed":
		return KillDone, nil
	}
	host := res[1]
	if err := q.rdb.XAdd(octx, &redis.XAddArgs{
		Stream: q.keys.Control(host), MaxLen: int64(q.opt.controlCap), Approx: true,
		Values: []any{"op", string(ControlKill), "run", id},
	}).Err(); err != nil {
		return "", fmt.Errorf("kill run %s: tell worker %s: %w", id, host, err)
	}
	q.rdb.Expire(octx, q.keys.Control(host), q.opt.runTTL)
	return KillSignalled, nil
}

// ReadControl returns the control messages for host that it has not
// acknowledged yet: first those read before but not acknowledged (a worker
// that crashed sees them again), then new ones, waiting up to block for
// them. Messages sent while the host was offline are kept (up to the last
// 1000, for the run TTL) and delivered when it reads again.
func (q *Queue) ReadControl(ctx context.Context, host string, block time.Duration) ([]Control, error) {
	if err := checkName("host", host); err != nil {
		return nil, fmt.Errorf("read control: %w", err)
	}
	stream := q.keys.Control(host)
	for _, from := range []string{"0", ">"} {
		b := time.Duration(-1)
		if from == ">" && block > 0 {
			b = block
		}
		msgs, err := q.readControl(ctx, stream, host, from, b)
		if err != nil {
			return nil, err
		}
		if len(msgs) > 0 {
			return msgs, nil
		}
	}
	return nil, nil
}

func (q *Queue) readControl(ctx context.Context, stream, host, from string, block time.Duration) ([]Control, error) {
	for try := 0; ; try++ {
		res, err := q.xreadGroup(ctx, &redis.XReadGroupArgs{
			Group: group, Consumer: host, Streams: []string{stream, from}, Count: 100, Block: block,
		}).Result()
		if errors.Is(err, redis.Nil) {
			return nil, nil
		}
		if isNoGroup(err) && try == 0 {
			if err := q.ensureGroup(ctx, stream); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read control stream of %s: %w", host, err)
		}
		var out []Control
		for _, s := range res {
			for _, m := range s.Messages {
				op, _ := m.Values["op"].(string)
				run, _ := m.Values["run"].(string)
				out = append(out, Control{ID: m.ID, Op: ControlOp(op), Run: run})
			}
		}
		return out, nil
	}
}

// AckControl acknowledges control messages once the worker has acted on them.
func (q *Queue) AckControl(ctx context.Context, host string, msgs ...Control) error {
	if len(msgs) == 0 {
		return nil
	}
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	octx, cancel := q.op(ctx)
	defer cancel()
	if err := q.rdb.XAck(octx, q.keys.Control(host), group, ids...).Err(); err != nil {
		return fmt.Errorf("ack %d control messages of %s: %w", len(ids), host, err)
	}
	return nil
}
