package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/dispatch"
	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/secrets"
)

// refusedExit is the exit code recorded for runs that never started a
// process: refused, bad parameters, skipped, could not be started.
const refusedExit = -1

// run executes one delivery and returns its result. stopped reports that
// the task was stopped because ctx ended (kill, lost lease, shutdown); the
// caller decides from ctx's cause what becomes of it.
func (w *worker) run(ctx context.Context, d *queue.Delivery) (queue.Result, bool) {
	r := d.Run
	c := w.now() // one release for the whole run, whatever a reload does meanwhile
	sp, err := w.resolve(c, r)
	if err != nil {
		return w.refuse(ctx, r, err), false
	}
	t, params := sp.Def, sp.Params
	if w.killedBeforeStart(ctx) {
		return queue.Result{ExitCode: refusedExit, Killed: true}, false
	}
	if sched := w.forbids(c, r); sched != "" {
		other, ok := w.guard.enter(sched, r.ID)
		if !ok {
			return w.refuse(ctx, r, fmt.Errorf("skipped: schedule %s has concurrency forbid and its run %s is still running on %s",
				sched, other, w.o.Host)), false
		}
		defer w.guard.leave(sched, r.ID)
	}
	w.log.Info("run started", "run", r.ID, "task", t.Ref(), "queue", d.Queue, "attempt", r.Attempt, "deliveries", r.Deliveries)
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = t.Timeout.D()
	}
	if t.Builtin {
		return w.runBuiltin(ctx, c, r, t, params, timeout)
	}
	return w.runProcess(ctx, c, r, t, params, timeout)
}

// killedBeforeStart reports whether a kill reached this worker before the
// task started: from the control stream, possibly before the run was
// registered (see worker.kill), or from a lease renewal. The start script
// has already refused runs killed before they were claimed.
func (w *worker) killedBeforeStart(ctx context.Context) bool {
	return errors.Is(context.Cause(ctx), errKilled)
}

// resolve finds the run's task among the role's modules and the built-ins
// and checks its params (dispatch.Resolve, the rule the CLI and the beat
// applied before enqueueing); a task of a module the role does not load,
// or bad params, are refused.
func (w *worker) resolve(c *release, r *queue.Run) (*dispatch.Spec, error) {
	name := r.Task
	if r.Module != "" && !strings.Contains(name, ".") {
		name = r.Module + "." + name
	}
	sp, err := dispatch.Resolve(c.cfg, w.host.Role, name, r.Params)
	var pe *dispatch.ParamsError
	if errors.As(err, &pe) {
		errs := make([]error, len(pe.Errs))
		for i, e := range pe.Errs {
			errs[i] = e
		}
		return nil, fmt.Errorf("bad params for %s: %w", pe.Task.Ref(), errors.Join(errs...))
	}
	if err != nil {
		return nil, fmt.Errorf("refused by worker %s (role %s): %w", w.o.Host, w.host.Role, err)
	}
	return sp, nil
}

// forbids returns the schedule of r when that schedule forbids concurrent
// runs, "" otherwise.
func (w *worker) forbids(c *release, r *queue.Run) string {
	if r.ScheduleID == "" {
		return ""
	}
	s, ok := c.cfg.Schedules.Get(r.ScheduleID)
	if !ok || !s.Concurrency.Forbids() {
		return ""
	}
	return s.Name
}

// refuse returns the permanent failure of a run that did not start (it is
// not retried), with why on the run's log.
func (w *worker) refuse(ctx context.Context, r *queue.Run, err error) queue.Result {
	w.log.Warn("run refused", "run", r.ID, "task", r.Task, "module", r.Module, "err", err)
	return queue.Result{ExitCode: refusedExit, Err: err, Permanent: true, Lines: note(err.Error())}
}

// note is one line of the worker's own for a run's log (stream "worker"),
// written with the run's result.
func note(line string) []queue.LogLine {
	return []queue.LogLine{{Stream: "worker", Text: line}}
}

// appendNote writes a worker line to the run's log at once, best effort.
func (w *worker) appendNote(ctx context.Context, runID, line string) {
	if err := w.q.AppendLog(context.WithoutCancel(ctx), runID, "worker", line); err != nil {
		w.log.Warn("write run log", "run", runID, "err", err)
	}
}

// runProcess runs a command or script task as a subprocess.
func (w *worker) runProcess(ctx context.Context, c *release, r *queue.Run, t *config.Task, params map[string]any, timeout time.Duration) (queue.Result, bool) {
	argv, err := c.argv(t)
	if err != nil {
		return w.refuse(ctx, r, err), false
	}
	params, taskEnv, mask, err := w.resolveSecrets(ctx, c, r, params, t.Env)
	if err != nil {
		return w.refuse(ctx, r, err), false
	}
	if mask != nil { // the values references stood for meet the params' types, patterns and enums
		if params, err = t.CheckResolved(params); err != nil {
			return w.refuse(ctx, r, err), false
		}
	}
	stdin, err := json.Marshal(params)
	if err != nil {
		return w.refuse(ctx, r, fmt.Errorf("encode params of run %s: %w", r.ID, err)), false
	}
	env := append(baseEnv(c), envList(taskEnv)...)
	env = append(env, config.ParamEnv(params)...)
	env = append(env, w.contextEnv(c, r, t)...)
	return w.runSpec(ctx, r, spec{Argv: argv, Dir: c.dir, Env: env, Stdin: stdin, Timeout: timeout, Mask: mask})
}

// runSpec runs a spec with the run's log as output and turns the outcome
// into a result.
func (w *worker) runSpec(ctx context.Context, r *queue.Run, s spec) (queue.Result, bool) {
	// The last lines of a killed task still go to the log; stdout and
	// stderr share the run's log budget.
	rl := w.q.RunLog(context.WithoutCancel(ctx), r.ID)
	s.Stdout, s.Stderr, s.KillGrace = rl.Writer("stdout"), rl.Writer("stderr"), w.killGrace
	var masked []*secrets.MaskWriter
	if !s.Mask.Empty() { // secret values in the output become ***
		mo, me := s.Mask.Writer(s.Stdout), s.Mask.Writer(s.Stderr)
		s.Stdout, s.Stderr, masked = mo, me, []*secrets.MaskWriter{mo, me}
	}
	out := execute(ctx, s)
	for _, m := range masked {
		_ = m.Flush() // the run log never fails a write
	}
	if err := rl.Close(); err != nil {
		w.log.Warn("write run log", "run", r.ID, "err", err)
	}
	res := queue.Result{ExitCode: out.ExitCode, Err: out.Err, Lines: note(out.summary())}
	if out.TimedOut {
		res.Err = fmt.Errorf("timed out after %s (exit code %d)", s.Timeout, out.ExitCode)
	}
	return res, out.Stopped
}

// argv is the command line of a command or script task.
func (c *release) argv(t *config.Task) ([]string, error) {
	switch {
	case len(t.Command) > 0:
		return t.Command, nil
	case t.Script != "":
		if !filepath.IsLocal(t.Script) {
			return nil, fmt.Errorf("task %s: script %q must stay inside tasks/", t.Ref(), t.Script)
		}
		return []string{filepath.Join(c.dir, "tasks", t.Script)}, nil
	}
	return nil, fmt.Errorf("task %s has neither command nor script", t.Ref())
}

// contextEnv are the CL_* variables describing the run.
func (w *worker) contextEnv(c *release, r *queue.Run, t *config.Task) []string {
	return []string{"CL_TASK=" + t.Name, "CL_MODULE=" + t.Module, "CL_RUN_ID=" + r.ID,
		"CL_HOST=" + w.o.Host, "CL_RELEASE_DIR=" + c.dir}
}

// baseEnv is the worker's environment without CL_* variables, which belong
// to the run, and without the variables holding the secrets provider's
// credentials (a task gets the secrets it references, not the keys to all).
func baseEnv(c *release) []string {
	drop := secrets.CredentialEnv(c.cfg)
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(kv, "CL_") && !slices.Contains(drop, name) {
			env = append(env, kv)
		}
	}
	return env
}

func envList(m map[string]string) []string {
	env := make([]string, 0, len(m))
	for k, v := range m {
		env = append(env, k+"="+v)
	}
	return env
}
