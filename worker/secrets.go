package worker

import (
	"context"
	"fmt"
	"os/user"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/celeroot/celeroot/audit"
	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/secrets"
)

// secretState is the worker's secrets provider (for the configuration it
// was opened for: a reload to another release opens a new one) and its
// audit trail.
type secretState struct {
	mu    sync.Mutex
	cfg   *config.Config
	p     secrets.Provider
	trail *audit.Trail
}

// resolveSecrets returns the run's params and its task's env with their
// ${secret:…} references resolved, and the masker for its output (nil when
// the run references no secret). Values are fetched now, for this run,
// and kept nowhere; the audit trail gets the secrets' names.
func (w *worker) resolveSecrets(ctx context.Context, c *release, r *queue.Run, params map[string]any, env map[string]string) (map[string]any, map[string]string, *secrets.Masker, error) {
	uses, err := secrets.Uses(params, env)
	if err != nil {
		return nil, nil, nil, err
	}
	if !uses {
		return params, env, nil, nil
	}
	p, err := w.secretsProvider(c)
	if err != nil {
		return nil, nil, nil, err
	}
	res, err := secrets.ResolveRun(ctx, p, params, env)
	if err != nil {
		return nil, nil, nil, err
	}
	w.log.Info("secrets resolved", "run", r.ID, "secrets", strings.Join(res.Names, ","))
	if err := w.auditSecrets(ctx, c, r, res.Names); err != nil {
		if c.cfg.Audit.FailClosed { // the values are dropped with res: the task never sees them
			return nil, nil, nil, fmt.Errorf("refused: the audit record of its secrets cannot be written (audit.fail_closed is on): %w", err)
		}
		w.log.Warn("audit record of resolved secrets not written", "run", r.ID, "err", fmt.Sprint(err))
	}
	return res.Params, res.Env, res.Masker, nil
}

func (w *worker) secretsProvider(c *release) (secrets.Provider, error) {
	w.sec.mu.Lock()
	defer w.sec.mu.Unlock()
	if w.sec.cfg == c.cfg {
		return w.sec.p, nil
	}
	var p secrets.Provider
	if c.cfg.Secrets.Provider != "" { // none: ResolveRun names what to add
		var err error
		if p, err = secrets.Open(c.cfg); err != nil {
			return nil, err
		}
	}
	w.sec.cfg, w.sec.p = c.cfg, p
	return p, nil
}

// auditSecrets appends a "secret.resolve" record naming the secrets (never
// their values) and the run, before the task starts. A trail that cannot be
// written is a warning and the run goes on, unless audit.fail_closed (the
// caller refuses the run then).
func (w *worker) auditSecrets(ctx context.Context, c *release, r *queue.Run, names []string) error {
	w.sec.mu.Lock()
	if w.sec.trail == nil {
		t, err := audit.ForConfig(c.cfg, c.cfg.Source.Env, w.q, false)
		if err != nil {
			w.sec.mu.Unlock()
			return err
		}
		w.sec.trail = t
	}
	t := w.sec.trail
	w.sec.mu.Unlock()
	actor := audit.Actor{Via: "worker", Machine: w.o.Host}
	if u, err := user.Current(); err == nil {
		actor.User = u.Username
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	targets := append(slices.Clone(names), "run:"+r.ID)
	_, err := t.Append(actx, audit.Record{Actor: actor, Action: "secret.resolve", Targets: targets, SHA: c.sha, Result: audit.ResultOK})
	return err
}
