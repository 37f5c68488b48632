// Package rawclient hands the go-redis client of a queue.Queue to queue's
// own test helpers (queuetest) and to nothing else: Go lets only packages
// under queue/ import it, so the raw client cannot leak to the rest of the
// project, which talks to Redis through queue's API.
package rawclient

import "github.com/redis/go-redis/v9"

// Of returns the client of a *queue.Queue; package queue sets it.
var Of func(q any) redis.UniversalClient
