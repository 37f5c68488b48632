package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/celeroot/celeroot/queue"
)

// TaskCmd is `cl task`: run tasks on hosts through the Redis queues and
// watch them.
type TaskCmd struct {
	Install TaskInstallCmd `cmd:"" help:"Install a package on hosts (built-in task install)."`
	Remove  TaskRemoveCmd  `cmd:"" help:"Remove a package from hosts (built-in task remove)."`
	Run     TaskRunCmd     `cmd:"" help:"Run a task on hosts: one run per host, or one on the role queue with --any."`
	Status  TaskStatusCmd  `cmd:"" help:"Workers, queue depths and running tasks; or one run's record with --task-id."`
	Logs    TaskLogsCmd    `cmd:"" help:"Print a run's output (--follow: until it ends)."`
	Kill    TaskKillCmd    `cmd:"" help:"Kill a run and wait until it is killed."`
}

// submitFlags are the flags of the commands that create runs.
type submitFlags struct {
	selectFlags
	Any  bool `help:"Put one run on the role queue (any worker of --role takes it) instead of one run per host."`
	Wait bool `short:"w" help:"Follow the runs to the end, streaming their logs; exit 0 only if all succeeded."`
}

// TaskInstallCmd is `cl task install PKG`.
type TaskInstallCmd struct {
	Package string `arg:"" name:"package" help:"Package name, optionally =VERSION (apt) or :ARCH."`
	submitFlags
}

// Run enqueues the built-in install task.
func (c *TaskInstallCmd) Run(a *App) error {
	return submitTask(a, packageRequest("install", c.Package, c.submitFlags))
}

// TaskRemoveCmd is `cl task remove PKG`.
type TaskRemoveCmd struct {
	Package string `arg:"" name:"package" help:"Package name."`
	submitFlags
}

// Run enqueues the built-in remove task.
func (c *TaskRemoveCmd) Run(a *App) error {
	return submitTask(a, packageRequest("remove", c.Package, c.submitFlags))
}

// TaskRunCmd is `cl task run TASK`.
type TaskRunCmd struct {
	Task  string   `arg:"" name:"task" help:"Task name (name, or module.name when two loaded modules define it; builtin.ping for a built-in)."`
	Param []string `short:"p" sep:"none" placeholder:"K=V" help:"A task parameter (repeatable); converted to the parameter's declared type."`
	submitFlags
}

// Run validates and enqueues the task.
func (c *TaskRunCmd) Run(a *App) error {
	params, err := parseParams(c.Param)
	if err != nil {
		return err
	}
	return submitTask(a, taskRequest{task: c.Task, params: params, flags: c.submitFlags})
}

// TaskStatusCmd is `cl task status`.
type TaskStatusCmd struct {
	TaskID string `name:"task-id" placeholder:"ID" help:"Show this run's record instead of the overview."`
}

// Run prints the overview or one run.
func (c *TaskStatusCmd) Run(a *App) error {
	cfg, q, err := loadQueue(a)
	if err != nil {
		return err
	}
	defer q.Close()
	if c.TaskID != "" {
		r, err := getRun(a, q, c.TaskID)
		if err != nil {
			return err
		}
		return printRun(a, r)
	}
	st, err := collectStatus(a, cfg, q)
	if err != nil {
		return err
	}
	return printStatus(a, st)
}

// TaskLogsCmd is `cl task logs`.
type TaskLogsCmd struct {
	TaskID string `name:"task-id" required:"" placeholder:"ID" help:"The run whose output to print."`
	Follow bool   `short:"f" help:"Keep printing new lines until the run ends; exit 0 only if it succeeded."`
}

// Run prints the run's log.
func (c *TaskLogsCmd) Run(a *App) error {
	_, q, err := loadQueue(a)
	if err != nil {
		return err
	}
	defer q.Close()
	if _, err := getRun(a, q, c.TaskID); err != nil {
		return err
	}
	p := &logPrinter{a: a, jsonLines: a.JSON()}
	r, err := streamLog(a.Ctx, q, c.TaskID, c.Follow, func(l queue.LogLine) { p.print("", l) })
	if err != nil {
		return fmt.Errorf("logs of run %s: %w", c.TaskID, err)
	}
	if c.Follow && !r.State.Successful() {
		return withCode(ExitError, fmt.Errorf("run %s ended %s%s", r.ID, r.State, reasonSuffix(r)))
	}
	return nil
}

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
		fmt.Fprintf(a.Stdout, "run %s was already killed (task %s on %s)\n", r.ID, r.Task, runHost(r))
	default:
		fmt.Fprintf(a.Stdout, "run %s killed (task %s on %s)\n", r.ID, r.Task, runHost(r))
	}
	return nil
}

// getRun reads one run, with a user-facing error for unknown ids.
func getRun(a *App, q *queue.Queue, id string) (*queue.Run, error) {
	r, err := q.Get(a.Ctx, id)
	if errors.Is(err, queue.ErrNotFound) {
		return nil, fmt.Errorf("no run %s in %s (a wrong id, another --env, or its record expired after redis.task_ttl)", id, q.Namespace())
	}
	if err != nil {
		return nil, fmt.Errorf("read run %s: %w", id, err)
	}
	return r, nil
}

// killRun kills a run; for a running run it waits until its worker reports
// it killed, at most timeout. The returned run is the last record read;
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
