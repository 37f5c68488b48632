package config

import "fmt"

// Resolved is a task found among the modules a role loads, with its
// parameters converted to their declared types and defaults filled in.
// ParamErrors lists what is wrong with the given parameters (then Params is
// incomplete and nothing may run).
type Resolved struct {
	Task        *Task
	Params      map[string]any
	ParamErrors []ParamError
}

// ErrNoRole reports a role that is not defined under workers.
type ErrNoRole struct{ Role string }

func (e *ErrNoRole) Error() string {
	return fmt.Sprintf("no worker role %q in the configuration (fix: add workers.%s)", e.Role, e.Role)
}

// ResolveTask finds task (name, module.name or builtin.name) among the
// modules the worker role loads and checks params against its declaration.
// It is the one rule for "may this role run this task with these params",
// shared by validation, the CLI, the beat and the worker (package dispatch
// wraps it). The error is *ErrNoRole or the task lookup's; parameter
// problems are in Resolved.ParamErrors.
func (c *Config) ResolveTask(role, task string, params map[string]any) (*Resolved, error) {
	w, ok := c.Workers.Get(role)
	if !ok {
		return nil, &ErrNoRole{Role: role}
	}
	t, err := c.FindTask(task, w.Tasks)
	if err != nil {
		return nil, err
	}
	out, errs := t.ResolveParams(params)
	return &Resolved{Task: t, Params: out, ParamErrors: errs}, nil
}
