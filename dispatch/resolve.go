package dispatch

import (
	"fmt"
	"strings"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/secrets"
)

// Spec is a task resolved for one role: what every run of it on that role
// carries.
type Spec struct {
	Def        *config.Task   // the task's definition (built-in, command or script)
	Task       string         // the task's name
	Module     string         // its module
	Params     map[string]any // typed, defaults filled in
	Timeout    time.Duration  // the task's timeout, or config.DefaultTaskTimeout
	MaxRetries int
	RoleQueue  string // the role's shared queue (role:<workers.ROLE.queue>)
}

// ParamsError lists what is wrong with the parameters given for a task.
type ParamsError struct {
	Task *config.Task
	Errs []config.ParamError
}

func (e *ParamsError) Error() string {
	msgs := make([]string, len(e.Errs))
	for i, pe := range e.Errs {
		msgs[i] = pe.Error()
	}
	return strings.Join(msgs, "; ")
}

// Resolve finds task among the modules the role loads (and the built-ins)
// and checks params against its declaration. The error is a
// *config.ErrNoRole, the task lookup's error, or a *ParamsError.
func Resolve(cfg *config.Config, role, task string, params map[string]any) (*Spec, error) {
	res, err := cfg.ResolveTask(role, task, params)
	if err != nil {
		return nil, err
	}
	if len(res.ParamErrors) > 0 {
		return nil, &ParamsError{Task: res.Task, Errs: res.ParamErrors}
	}
	// A malformed ${secret:…} is refused here, before it is enqueued; the
	// worker resolves well-formed ones when the run starts.
	if _, err := secrets.Uses(res.Params, res.Task.Env); err != nil {
		return nil, fmt.Errorf("task %s: %w", res.Task.Ref(), err)
	}
	w, _ := cfg.Workers.Get(role)
	t := res.Task
	timeout := t.Timeout.D()
	if timeout <= 0 {
		timeout = config.DefaultTaskTimeout.D()
	}
	return &Spec{Def: t, Task: t.Name, Module: t.Module, Params: res.Params, Timeout: timeout,
		MaxRetries: t.Retries, RoleQueue: queue.RoleQueue(w.Queue)}, nil
}

// Run is a new run of the spec on queue target.
func (s *Spec) Run(target string) *queue.Run {
	return &queue.Run{Task: s.Task, Module: s.Module, Params: s.Params, Target: target,
		Timeout: s.Timeout, MaxRetries: s.MaxRetries}
}
