package main

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"time"

	"github.com/alecthomas/kong"

	"github.com/celeroot/celeroot/audit"
	"github.com/celeroot/celeroot/config"
)

// selectedAudit returns the entry of the command kong selected, if it is audited.
func selectedAudit(kctx *kong.Context) (auditEntry, bool) {
	n := kctx.Selected()
	if n == nil || !n.Target.IsValid() {
		return auditEntry{}, false
	}
	v := n.Target
	if v.Kind() != reflect.Pointer && v.CanAddr() {
		v = v.Addr()
	}
	ad, ok := v.Interface().(audited)
	if !ok {
		return auditEntry{}, false
	}
	e := ad.auditEntry()
	return e, !e.skip
}

// auditRun appends the records of one audited command: in fail-closed mode
// a "started" record before it runs (its failure refuses the command), and
// its result after.
type auditRun struct {
	app   *App
	entry auditEntry
	via   string // the actor's via: "cli" (default) or "beat" (the beat's own jobs)
}

// begin writes the "started" record when cl.yaml says audit.fail_closed;
// an error refuses the command. A configuration that does not load is the
// command's own error to report, so it does not stop it here.
func (r *auditRun) begin() error {
	cfg, err := r.loadConfig()
	if err != nil || !cfg.Audit.FailClosed {
		return nil
	}
	if err := r.append(cfg, audit.ResultStarted, ""); err != nil {
		return fmt.Errorf("%s refused: its audit record cannot be written (audit.fail_closed is on): %w; "+
			"fix the audit trail (Redis, audit.signing_key, audit.file) or set audit.fail_closed: false", r.entry.action, err)
	}
	return nil
}

// end writes the result record. A failure to write it is a warning on
// stderr after a successful command (a debug log line after a failed one,
// whose own error says what is wrong); it does not change the exit code.
func (r *auditRun) end(runErr error) {
	cfg, err := r.loadConfig()
	if err != nil {
		return // nothing to audit into (e.g. the command removed or broke cl.yaml's redis)
	}
	res := audit.ResultOK
	if runErr != nil {
		res = audit.ResultFailed
	}
	if err := r.append(cfg, res, headSHA(context.WithoutCancel(r.app.Ctx), filepath.Dir(r.app.ConfigPath))); err != nil {
		if runErr != nil { // the command's own error (often the same Redis) is what the user needs
			r.app.Log.Debug("audit record not written", "action", r.entry.action, "err", err)
			return
		}
		fmt.Fprintf(r.app.Stderr, "cl: warning: audit record of %s not written: %v\n", r.entry.action, err)
	}
}

func (r *auditRun) loadConfig() (*config.Config, error) {
	opts := r.app.LoadOptions()
	if r.entry.config != "" {
		opts.Path = r.entry.config
	}
	cfg, _, err := config.LoadValid(opts)
	return cfg, err
}

func (r *auditRun) append(cfg *config.Config, res audit.Result, sha string) error {
	// The record is written even when the command was interrupted.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.app.Ctx), 15*time.Second)
	defer cancel()
	a := *r.app
	a.Ctx = ctx
	q, err := openQueue(&a, cfg)
	if err != nil {
		return err
	}
	defer q.Close()
	t, err := audit.ForConfig(cfg, r.app.Env, q, true)
	if err != nil {
		return err
	}
	actor := audit.CLIActor(cfg.SSH.DefaultKey)
	if r.via != "" {
		actor.Via = r.via
	}
	_, err = t.Append(ctx, audit.Record{Actor: actor, Action: r.entry.action,
		Targets: r.entry.targets, SHA: sha, Result: res})
	return err
}
