package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/celeroot/celeroot/dispatch"
)

// taskRequest is what `cl task run|install|remove` asks for.
type taskRequest struct {
	task   string
	params map[string]any // raw: strings from --param, converted by type later
	flags  submitFlags
	pkg    string // install/remove: the package name, for a clearer error
}

// submission is one run to enqueue (then enqueued) and where it goes.
type submission = dispatch.Submission

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

// submitTask plans the request (dispatch.Plan), enqueues its runs and
// prints their ids, or follows them with --wait.
func submitTask(a *App, req taskRequest) error {
	if err := checkAny(req.flags); err != nil {
		return err
	}
	cfg, err := a.LoadConfig()
	if err != nil {
		return err
	}
	sel, err := req.flags.selector(false)
	if err != nil {
		return err
	}
	if sel.Fleet, err = routeFleet(a, cfg, sel.Fleet); err != nil {
		return err
	}
	subs, err := dispatch.Plan(cfg, dispatch.Request{Task: req.task, Params: req.params, Select: sel, Any: req.flags.Any})
	if err != nil {
		return planError(req, err)
	}
	q, err := openQueue(a, cfg)
	if err != nil {
		return err
	}
	defer q.Close()
	done, err := dispatch.EnqueueSubmissions(a.Ctx, q, subs)
	if err != nil {
		if len(done) > 0 {
			_ = printSubmissions(a, done)
		}
		return fmt.Errorf("%w (%d of %d runs enqueued, printed above)", err, len(done), len(subs))
	}
	if !req.flags.Wait {
		return printSubmissions(a, subs)
	}
	return waitSubmissions(a, q, subs, req.flags.Timeout)
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

// planError words parameter problems for the command line; a bad package
// name gets its own message, since it is the classic injection attempt.
func planError(req taskRequest, err error) error {
	var re *dispatch.RoleError
	var pe *dispatch.ParamsError
	if !errors.As(err, &re) || !errors.As(err, &pe) {
		return err
	}
	if req.pkg != "" {
		for _, e := range pe.Errs {
			if e.Param == "package" {
				return fmt.Errorf("package name %q rejected: use letters, digits and + . _ : ~ = - starting with a letter or digit (e.g. nginx, nginx=1.24.0-1); nothing was enqueued", req.pkg)
			}
		}
	}
	re.Err = fmt.Errorf("%s (fix the --param values; `cl config workers` and docs/tasks.md describe %s's params)", pe, pe.Task.Ref())
	return re
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
