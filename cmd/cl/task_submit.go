package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/queue"
)

// taskRequest is what `cl task run|install|remove` asks for.
type taskRequest struct {
	task   string
	params map[string]any // raw: strings from --param, converted by type later
	flags  submitFlags
	pkg    string // install/remove: the package name, for a clearer error
}

// packageRequest is the request of `cl task install|remove PKG`.
func packageRequest(task, pkg string, f submitFlags) taskRequest {
	return taskRequest{task: task, params: map[string]any{"package": pkg}, flags: f, pkg: pkg}
}

// parseParams parses --param k=v pairs; values stay strings until the
// task's declared types convert them.
func parseParams(pairs []string) (map[string]any, error) {
	out := map[string]any{}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("--param %q: write it as name=value", p)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("--param %s is given twice: give each parameter once", k)
		}
		out[k] = v
	}
	return out, nil
}

// submission is one run to enqueue (then enqueued) and where it goes.
type submission struct {
	ID     string         `json:"id"`
	Task   string         `json:"task"`
	Module string         `json:"module"`
	Host   string         `json:"host,omitempty"` // empty for a run on a role queue (--any)
	Role   string         `json:"role"`
	Queue  string         `json:"queue"`
	Params map[string]any `json:"params,omitempty"`
	State  queue.State    `json:"state"`

	timeout time.Duration // the task's timeout, enforced by the worker
	retries int           // the task's retries
}

// label names the submission in log prefixes and summaries.
func (s *submission) label() string {
	if s.Host != "" {
		return s.Host
	}
	return s.Queue
}

// submitTask validates the request against the configuration, enqueues its
// runs and prints their ids, or follows them with --wait.
func submitTask(a *App, req taskRequest) error {
	if err := checkAny(req.flags); err != nil {
		return err
	}
	cfg, hosts, err := selectHosts(a, req.flags.selectFlags, false)
	if err != nil {
		return err
	}
	subs, err := planRuns(cfg, hosts, req)
	if err != nil {
		return err
	}
	q, err := openQueue(a, cfg)
	if err != nil {
		return err
	}
	defer q.Close()
	done, err := enqueueAll(a, q, subs)
	if err != nil {
		if len(done) > 0 {
			_ = printSubmissions(a, done)
		}
		return fmt.Errorf("%w (%d of %d runs enqueued, printed above)", err, len(done), len(subs))
	}
	if !req.flags.Wait {
		return printSubmissions(a, subs)
	}
	return waitSubmissions(a, q, subs)
}

// checkAny: --any needs exactly a role, whose queue the run goes to.
func checkAny(f submitFlags) error {
	if !f.Any {
		return nil
	}
	if f.Role == "" || len(f.Target) > 0 || len(f.Tags) > 0 || f.All {
		return errors.New("--any puts one run on a role's queue: use it with --role ROLE only")
	}
	return nil
}

// resolved is a task checked for one role, with its parameters.
type resolved struct {
	task   *config.Task
	params map[string]any
	queue  string // the role queue
}

// planRuns checks the task and its parameters for the role of every
// selected host and returns the runs: one per host, or one per role with
// --any. Nothing is enqueued when anything is wrong.
func planRuns(cfg *config.Config, hosts []*config.Host, req taskRequest) ([]*submission, error) {
	byRole := map[string]*resolved{}
	var subs []*submission
	for _, h := range hosts {
		rs, ok := byRole[h.Role]
		if !ok {
			var err error
			if rs, err = resolveForRole(cfg, h.Role, req); err != nil {
				return nil, fmt.Errorf("task %s on role %s (%s): %w", req.task, h.Role, roleHosts(hosts, h.Role), err)
			}
			byRole[h.Role] = rs
		} else if req.flags.Any {
			continue
		}
		s := &submission{Task: rs.task.Name, Module: rs.task.Module, Role: h.Role, Params: rs.params,
			timeout: taskTimeout(rs.task), retries: rs.task.Retries}
		if req.flags.Any {
			s.Queue = rs.queue
		} else {
			s.Host, s.Queue = h.Name, queue.HostQueue(h.Name)
		}
		subs = append(subs, s)
	}
	return subs, nil
}

// resolveForRole finds the task among the modules the role loads and checks
// the parameters against its declaration.
func resolveForRole(cfg *config.Config, role string, req taskRequest) (*resolved, error) {
	w, ok := cfg.Workers.Get(role)
	if !ok {
		return nil, fmt.Errorf("no worker role %q in the configuration (fix: add workers.%s)", role, role)
	}
	t, err := cfg.FindTask(req.task, w.Tasks)
	if err != nil {
		return nil, err
	}
	params, perrs := t.ResolveParams(req.params)
	if len(perrs) > 0 {
		return nil, paramError(t, req, perrs)
	}
	return &resolved{task: t, params: params, queue: roleQueue(w)}, nil
}

// taskTimeout is the task's timeout, or the default for tasks without one.
func taskTimeout(t *config.Task) time.Duration {
	if t.Timeout > 0 {
		return t.Timeout.D()
	}
	return config.DefaultTaskTimeout.D()
}

// roleQueue is the queue shared by the workers of a role: workers.<role>.queue.
func roleQueue(w *config.Worker) string { return queue.RoleQueue(w.Queue) }

// paramError joins parameter problems into one line; a bad package name
// gets its own message, since it is the classic injection attempt.
func paramError(t *config.Task, req taskRequest, perrs []config.ParamError) error {
	if req.pkg != "" {
		for _, pe := range perrs {
			if pe.Param == "package" {
				return fmt.Errorf("package name %q rejected: use letters, digits and + . _ : ~ = - starting with a letter or digit (e.g. nginx, nginx=1.24.0-1); nothing was enqueued", req.pkg)
			}
		}
	}
	msgs := make([]string, len(perrs))
	for i, pe := range perrs {
		msgs[i] = pe.Error()
	}
	return fmt.Errorf("%s (fix the --param values; `cl config workers` and docs/tasks.md describe %s's params)", strings.Join(msgs, "; "), t.Ref())
}

// roleHosts names the selected hosts of a role, briefly.
func roleHosts(hosts []*config.Host, role string) string {
	var names []string
	for _, h := range hosts {
		if h.Role == role {
			names = append(names, h.Name)
		}
	}
	if len(names) > 3 {
		return fmt.Sprintf("%s, … %d hosts", strings.Join(names[:3], ", "), len(names))
	}
	return strings.Join(names, ", ")
}

// enqueueAll enqueues the runs, in batches of one round trip each, and
// returns those that were enqueued, in order.
func enqueueAll(a *App, q *queue.Queue, subs []*submission) ([]*submission, error) {
	const batch = 500
	var done []*submission
	var first error
	for start := 0; start < len(subs); start += batch {
		part := subs[start:min(start+batch, len(subs))]
		runs := make([]*queue.Run, len(part))
		for i, s := range part {
			runs[i] = &queue.Run{Task: s.Task, Module: s.Module, Params: s.Params, Target: s.Queue,
				Timeout: s.timeout, MaxRetries: s.retries}
		}
		res, err := q.EnqueueMany(a.Ctx, runs...)
		if err != nil {
			return done, fmt.Errorf("enqueue %d runs: %w", len(part), err)
		}
		for i, r := range res {
			s := part[i]
			if r.Err != nil {
				if first == nil {
					first = fmt.Errorf("enqueue task %s for %s: %w", s.Task, s.label(), r.Err)
				}
				continue
			}
			s.ID, s.State = r.ID, runs[i].State
			done = append(done, s)
		}
	}
	return done, first
}

// printSubmissions prints the ids, one per line, or the objects as JSON.
func printSubmissions(a *App, subs []*submission) error {
	if a.JSON() {
		return a.PrintJSON(subs)
	}
	for _, s := range subs {
		fmt.Fprintln(a.Stdout, s.ID)
	}
	return nil
}
