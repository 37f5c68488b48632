package main

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/celeroot/celeroot/worker"
)

// startWorkers runs a worker (package worker, as `cl worker` does) for every
// host of the fleet (or only the hosts named), in-process, until the test ends.
func startWorkers(t *testing.T, f *fleet, only ...string) {
	t.Helper()
	cfg := f.load(t)
	q := f.queue(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, h := range cfg.Hosts.Values() {
		if len(only) > 0 && !slices.Contains(only, h.Name) {
			continue
		}
		wg.Go(func() {
			err := worker.Run(ctx, worker.Options{Config: cfg, Host: h.Name, Queue: q, SHA: "dev", Version: "test",
				HealthAddr: "-", Logger: slog.New(slog.DiscardHandler), Grace: time.Second})
			if err != nil {
				t.Errorf("worker %s: %v", h.Name, err)
			}
		})
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
}
