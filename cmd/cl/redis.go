package main

import (
	"context"
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
// enqueue durability (redis.wait_replicas).
// Every command that touches Redis goes through here.
func openQueue(a *App, cfg *config.Config) (*queue.Queue, error) {
	url := cfg.Redis.URL
	ctx, cancel := context.WithTimeout(a.Ctx, 10*time.Second)
	defer cancel()
	q, err := queue.Open(ctx, url, namespace(a, cfg),
		append(queue.ConfigOptions(cfg.Redis), queue.WithLogger(a.Log))...)
	if err != nil {
		return nil, fmt.Errorf("connect to redis (%s): %w", config.MaskURL(url), err)
	}
	return q, nil
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
