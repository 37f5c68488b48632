package main

import (
	"context"
	"encoding/json"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/queue"
)

// startWorkers runs a worker for every host of the fleet, in-process, until
// the test ends.
// TODO: worker.Run once package worker lands; this is a stand-in.
func startWorkers(t *testing.T, f *fleet) {
	t.Helper()
	cfg := f.load(t)
	q := f.queue(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, h := range cfg.Hosts.Values() {
		w, _ := cfg.Workers.Get(h.Role)
		wg.Go(func() {
			_ = q.Consume(ctx, queue.ConsumerConfig{Host: h.Name, Roles: []string{w.Queue}, Slots: w.Concurrency, Block: time.Second,
				Heartbeat: func() queue.Heartbeat { return queue.Heartbeat{Role: h.Role, SHA: "dev"} }},
				standIn(cfg, q, w))
		})
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
}

func standIn(cfg *config.Config, q *queue.Queue, w *config.Worker) queue.Handler {
	return func(ctx context.Context, d *queue.Delivery) queue.Result {
		r := d.Run
		if r.Task == "ping" {
			_ = q.AppendLog(ctx, r.ID, "stdout", "pong")
			return queue.Result{}
		}
		task, err := cfg.FindTask(r.Module+"."+r.Task, w.Tasks)
		if err != nil {
			return queue.Result{ExitCode: 1, Err: err}
		}
		cmd := exec.CommandContext(ctx, task.Command[0], task.Command[1:]...)
		cmd.Env = config.ParamEnv(r.Params)
		out, errw := q.LogWriter(ctx, r.ID, "stdout"), q.LogWriter(ctx, r.ID, "stderr")
		cmd.Stdout, cmd.Stderr = out, errw
		b, _ := json.Marshal(r.Params)
		_ = b
		err = cmd.Run()
		out.Close()
		errw.Close()
		if ctx.Err() != nil {
			return queue.Result{Killed: true, ExitCode: -1}
		}
		if ee, ok := err.(*exec.ExitError); ok {
			return queue.Result{ExitCode: ee.ExitCode()}
		}
		return queue.Result{Err: err}
	}
}
