package deploy

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/hostexec"
)

// RemoveOptions describe a host to remove.
type RemoveOptions struct {
	Load    config.Options
	Name    string
	Purge   bool   // also delete the releases, current and the worker's state files
	Force   bool   // unregister even when the host cannot be reached
	Commit  bool   // commit the change (cl.yaml in a git work tree)
	Message string // the commit message
	// Repo commits the change; nil when cl.yaml is not in a git work tree.
	Repo Committer
}

// RemoveReport is the plain-data result of `cl host remove`.
type RemoveReport struct {
	Host         string   `json:"host"`
	Stopped      bool     `json:"stopped"` // the worker was stopped and disabled
	Purged       bool     `json:"purged"`
	Unregistered bool     `json:"unregistered"`
	Path         string   `json:"path"`
	Commit       string   `json:"commit,omitempty"`
	NotCommitted string   `json:"not_committed,omitempty"`
	Warnings     []string `json:"warnings,omitempty"`
}

// purgeScript deletes what deploys put on a host. Arguments: target,
// state files prefix.
const purgeScript = `T=$1 ST=$2
rm -rf -- "$T/current" "$T/releases" "$T/.celeroot" "$T"/.current.tmp.* "$ST".lock "$ST".pid "$ST".json "$ST".json.tmp "$ST".argv "$ST".argv.tmp "$ST".log "$ST".log.1
rmdir -- "$T" 2>/dev/null || :
`

// Remove stops and disables the host's worker (keeping its releases and
// data unless Purge), then removes the host from cl.yaml and commits. The
// host is looked up in e.Config, the configuration the caller loaded (it
// is not loaded again); the edit is validated before the worker is
// stopped. A host that cannot be reached is an error unless Force, which
// unregisters it anyway and says the worker may still run. The caller
// holds the deploy lock (Locked), as for Deploy and Add, so that a remove
// never races a deploy touching the same host.
func (e *Engine) Remove(ctx context.Context, o RemoveOptions) (*RemoveReport, error) {
	rep := &RemoveReport{Host: o.Name, Path: o.Load.Path}
	h, ok := e.Config.Hosts.Get(o.Name)
	if !ok {
		return rep, fmt.Errorf("remove host: no host %q in %s (see `cl host list`)", o.Name, o.Load.Path)
	}
	edit := func(b []byte) ([]byte, error) { return config.RemoveHost(b, o.Name) }
	if err := checkEdit(o.Load, edit); err != nil {
		return rep, err
	}
	if err := e.stopWorker(ctx, h, o.Purge, rep); err != nil {
		if !o.Force {
			return rep, fmt.Errorf("remove host %s: %w (cl.yaml unchanged; --force removes it anyway)", o.Name, err)
		}
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("%v: its worker may still be running", err))
	}
	var commit config.CommitFunc
	switch {
	case !o.Commit:
	case o.Repo == nil:
		rep.NotCommitted = "not in a git work tree"
	default:
		commit = func(ctx context.Context, path string) (string, string, error) {
			return o.Repo.CommitFile(ctx, path, o.Message)
		}
	}
	res, err := config.ApplyEdit(ctx, o.Load, edit, commit)
	if res != nil {
		rep.Unregistered = true
		rep.Commit = res.Committed
		if res.NotCommitted != "" {
			rep.NotCommitted = res.NotCommitted
		}
	}
	return rep, err
}

// checkEdit validates an edit without writing it.
func checkEdit(load config.Options, edit func([]byte) ([]byte, error)) error {
	data, err := readConfig(load.Path)
	if err != nil {
		return err
	}
	out, err := edit(data)
	if err != nil {
		return err
	}
	_, diags, err := config.Load(config.Options{Path: load.Path, Env: load.Env, Content: out})
	if err != nil {
		return err
	}
	if diags.HasErrors() {
		return fmt.Errorf("refusing the change, it would make %s invalid (file left untouched):\n%w", load.Path, diags.Errors())
	}
	return nil
}

// stopWorker stops and disables the worker of h and, with purge, deletes
// the deploy's files.
func (e *Engine) stopWorker(ctx context.Context, h *config.Host, purge bool, rep *RemoveReport) error {
	run := e.newRun(&Release{}, h)
	if err := run.step(ctx, StepConnect, run.connect); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, stepTimeout+e.Config.SSH.Timeout.D())
	defer cancel()
	var sys strings.Builder
	if err := run.r.check(ctx, "probe", hostexec.Command{Line: "[ -d /run/systemd/system ] && echo 1 || echo 0", Stdout: &sys, MaxStdout: maxOutput}); err != nil {
		return err
	}
	run.svc.systemd = strings.TrimSpace(sys.String()) == "1"
	if err := run.svc.stop(ctx, run.r, true); err != nil {
		return err
	}
	rep.Stopped = true
	e.emit(Event{Host: h.Name, Step: StepService, Status: StatusOK, Message: "worker stopped and disabled"})
	if !purge {
		return nil
	}
	argv := []string{"/bin/sh", "-c", purgeScript, "sh", run.target(), path.Join(StateDir, run.svc.name)}
	if err := run.r.check(ctx, "purge", hostexec.Command{Argv: argv}); err != nil {
		return err
	}
	rep.Purged = true
	return nil
}

// StopWorker stops and disables the worker of h and, with purge, deletes
// the deploy's files. It leaves cl.yaml alone: the caller edits the
// registry (cl host remove) or has already (the agent pruning a host that
// left it). The caller holds the deploy lock.
func (e *Engine) StopWorker(ctx context.Context, h *config.Host, purge bool) (*RemoveReport, error) {
	rep := &RemoveReport{Host: h.Name, Path: e.Config.Deployment.TargetDirectory}
	err := e.stopWorker(ctx, h, purge, rep)
	return rep, err
}
