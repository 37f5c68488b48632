package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/queue"
)

// namespace is where this configuration's keys live in Redis: the cluster
// name and the --env overlay.
func namespace(a *App, cfg *config.Config) queue.Namespace {
	return queue.Namespace{Cluster: cfg.Cluster.Name, Env: a.Env}
}

// openQueue connects to cfg's redis.url with the configuration's TTLs and
// enqueue durability (redis.wait_replicas) and log budget. Every command
// that touches Redis goes through here (or through openQueueHint). An
// unreachable Redis is an error saying what to do.
func openQueue(a *App, cfg *config.Config) (*queue.Queue, error) {
	return openQueueHint(a, cfg, "")
}

// openQueueHint is openQueue with a command's own way out appended to the
// unreachable-Redis error (e.g. host add's --no-deploy).
func openQueueHint(a *App, cfg *config.Config, more string) (*queue.Queue, error) {
	ctx, cancel := context.WithTimeout(a.Ctx, 10*time.Second)
	defer cancel()
	q, err := queue.Open(ctx, cfg.Redis.URL, namespace(a, cfg),
		append(queue.ConfigOptions(cfg.Redis), queue.WithLogBudget(cfg.Redis.LogBudget.Bytes()), queue.WithLogger(a.Log))...)
	var ce *queue.ConnectError
	if errors.As(err, &ce) {
		// The URL as the user wrote it (masked), not as the client reads it.
		return nil, fmt.Errorf("connect to redis %s: %w: %s%s", config.MaskURL(cfg.Redis.URL), ce.Err, unreachableHint(a), more)
	}
	if err != nil { // a bad URL: the error names it and the fix
		return nil, err
	}
	return q, nil
}

// unreachableHint says what to do when the configuration's Redis does not
// answer: start it, or use the configuration that names the running one.
func unreachableHint(a *App) string {
	flags := "-c " + a.ConfigPath
	if a.Env != "" {
		flags += " --env " + a.Env
	}
	return fmt.Sprintf("is Redis running there? Start it (for the local demo, run `cl dev %s` in another terminal), "+
		"or give this command the -c/--env of the configuration whose redis.url is running (now %s)", flags, flags)
}

// loadQueue loads a valid configuration and connects to its Redis: the
// start of every command that works on the queue.
func loadQueue(a *App) (*config.Config, *queue.Queue, error) {
	cfg, err := a.LoadConfig()
	if err != nil {
		return nil, nil, err
	}
	q, err := openQueue(a, cfg)
	if err != nil {
		return nil, nil, err
	}
	return cfg, q, nil
}
