package queuetest

import (
	"github.com/redis/go-redis/v9"

	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/queue/internal/rawclient"
)

// Client returns q's go-redis client, for tests that must look at or
// damage Redis state behind the queue's API (expiries, intruding lease
// holders, flushed data). Production code has no way to it: queue owns
// every Redis call.
func Client(q *queue.Queue) redis.UniversalClient { return rawclient.Of(q) }
