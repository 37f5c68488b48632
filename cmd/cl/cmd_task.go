package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/celeroot/celeroot/dispatch"
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
	Any     bool          `help:"Put one run on the role queue (any worker of --role takes it) instead of one run per host."`
	Wait    bool          `short:"w" help:"Follow the runs to the end, streaming their logs; exit 0 only if all succeeded."`
	Timeout time.Duration `placeholder:"D" help:"With --wait: stop waiting after D (exit 1, naming the runs still pending); 0 waits without limit."`
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
	r, err := dispatch.StreamLog(a.Ctx, q, c.TaskID, c.Follow, func(l queue.LogLine) { p.print("", l) })
	if err != nil {
		return fmt.Errorf("logs of run %s: %w", c.TaskID, err)
	}
	if c.Follow && !r.State.Successful() {
		return withCode(ExitError, fmt.Errorf("run %s ended %s%s", r.ID, r.State, reasonSuffix(r)))
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
