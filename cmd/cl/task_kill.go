package main

import (
	"context"
	"fmt"
	"time"

	"github.com/celeroot/celeroot/dispatch"
	"github.com/celeroot/celeroot/queue"
)

// TaskKillCmd is `cl task kill`.
type TaskKillCmd struct {
	TaskID  string        `name:"task-id" required:"" placeholder:"ID" help:"The run to kill."`
	Timeout time.Duration `default:"1m" help:"How long to wait for the worker to confirm the kill."`
}

// Run kills the run and waits for the outcome.
func (c *TaskKillCmd) Run(a *App) error {
	_, q, err := loadQueue(a)
	if err != nil {
		return err
	}
	defer q.Close()
	r, already, err := killRun(a, q, c.TaskID, c.Timeout)
	if r != nil && a.JSON() {
		if perr := a.PrintJSON(r); perr != nil {
			return perr
		}
	}
	if err != nil {
		return err
	}
	switch {
	case a.JSON():
	case already:
		fmt.Fprintf(a.Stdout, "run %s was already killed (task %s on %s)\n", r.ID, r.Task, dispatch.RunHost(r))
	default:
		fmt.Fprintf(a.Stdout, "run %s killed (task %s on %s)\n", r.ID, r.Task, dispatch.RunHost(r))
	}
	return nil
}

// already reports a run that had been killed before.
func killRun(a *App, q *queue.Queue, id string, timeout time.Duration) (r *queue.Run, already bool, err error) {
	if _, err := getRun(a, q, id); err != nil {
		return nil, false, err
	}
	res, err := q.Kill(a.Ctx, id)
	if err != nil {
		return nil, false, fmt.Errorf("kill run %s: %w", id, err)
	}
	if res == queue.KillSignalled {
		ctx, cancel := context.WithTimeout(a.Ctx, timeout)
		defer cancel()
		runs, err := q.Wait(ctx, id)
		if err != nil {
			r, _ := q.Get(a.Ctx, id)
			host := "its worker"
			if r != nil {
				host = "worker " + r.Worker
			}
			return r, false, fmt.Errorf("run %s: %s did not confirm the kill within %v (is it alive? see `cl task status`); the kill stays pending and applies when the worker reads it", id, host, timeout)
		}
		r, err := checkKilled(runs[0])
		return r, false, err
	}
	if r, err = getRun(a, q, id); err != nil {
		return nil, false, err
	}
	r, err = checkKilled(r)
	return r, res == queue.KillTooLate, err
}

// checkKilled turns a terminal run that was not killed into the reason why.
func checkKilled(r *queue.Run) (*queue.Run, error) {
	if r.State == queue.StateKilled {
		return r, nil
	}
	return r, fmt.Errorf("run %s was not killed: it had already ended %s%s", r.ID, r.State, reasonSuffix(r))
}

func reasonSuffix(r *queue.Run) string {
	if r.Reason == "" {
		return ""
	}
	return " (" + r.Reason + ")"
}
