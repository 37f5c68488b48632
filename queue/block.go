package queue

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// xreadGroup runs an XREADGROUP that may block (args.Block > 0) so that it
// returns as soon as ctx ends. go-redis does not interrupt a read in
// progress when its context is cancelled; without this a stopping worker
// would wait out the whole block. The abandoned read finishes in the
// background and its reply is dropped: entries it delivered stay pending
// for the consumer, exactly as after a crash between a read and a start,
// so the host's next worker replays them and another worker of a role
// reclaims them when their lease time has passed. A read that does not
// block runs inline.
func (q *Queue) xreadGroup(ctx context.Context, args *redis.XReadGroupArgs) *redis.XStreamSliceCmd {
	timeout := q.opt.opTimeout + max(args.Block, 0)
	if args.Block <= 0 || ctx.Done() == nil {
		octx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return q.rdb.XReadGroup(octx, args)
	}
	if err := ctx.Err(); err != nil {
		return failedRead(ctx, err)
	}
	done := make(chan *redis.XStreamSliceCmd, 1)
	go func() {
		octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		defer cancel()
		done <- q.rdb.XReadGroup(octx, args)
	}()
	select {
	case cmd := <-done:
		return cmd
	case <-ctx.Done():
		return failedRead(ctx, context.Cause(ctx))
	}
}

func failedRead(ctx context.Context, err error) *redis.XStreamSliceCmd {
	cmd := redis.NewXStreamSliceCmd(ctx)
	cmd.SetErr(err)
	return cmd
}
