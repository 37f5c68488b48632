package fleet

import (
	"context"
	"errors"
	"fmt"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/deploy"
)

// CreateOptions is `cl cluster create NAME --clone FROM [--hosts …]`.
type CreateOptions struct {
	Load   config.Options
	Clone  config.CloneSpec
	Commit config.CommitFunc // nil: do not commit
}

// CreateResult is what Create added.
type CreateResult struct {
	Fleet string             `json:"fleet"`
	From  string             `json:"from"`
	Hosts []config.HostSpec  `json:"hosts"`
	Edit  *config.EditResult `json:"edit"`
}

// Create adds the hosts of a new fleet, cloned from an existing one (see
// config.Config.Clone), to cl.yaml in one atomic edit and one commit. Nothing
// is deployed: `cl host deploy --cluster NAME` does that. A fleet that
// exists already is refused.
func Create(ctx context.Context, cfg *config.Config, o CreateOptions) (*CreateResult, error) {
	hosts, err := cfg.Clone(o.Clone)
	if err != nil {
		return nil, fmt.Errorf("create fleet %s: %w", o.Clone.Name, err)
	}
	edit := func(b []byte) ([]byte, error) {
		for _, h := range hosts {
			if b, err = config.AddHost(b, h); err != nil {
				return nil, err
			}
		}
		return b, nil
	}
	res, err := config.ApplyEdit(ctx, o.Load, edit, o.Commit)
	if err != nil {
		return nil, fmt.Errorf("create fleet %s: %w", o.Clone.Name, err)
	}
	return &CreateResult{Fleet: o.Clone.Name, From: o.Clone.From, Hosts: hosts, Edit: res}, nil
}

// Stopper stops and disables a host's worker (deploy.Engine).
type Stopper interface {
	StopWorker(ctx context.Context, h *config.Host, purge bool) (*deploy.RemoveReport, error)
}

// QueueDeleter deletes queues; *queue.Queue implements it.
type QueueDeleter interface {
	DeleteQueues(ctx context.Context, queues []string) (int, error)
}

// DestroyOptions is `cl cluster destroy NAME`.
type DestroyOptions struct {
	Load  config.Options
	Name  string
	Purge bool // --purge-releases: also delete the hosts' releases
	// Force unregisters hosts whose worker could not be stopped
	// (unreachable), with a warning.
	Force  bool
	Commit config.CommitFunc
}

// ErrActive refuses destroying the active fleet.
var ErrActive = errors.New("is the active fleet")

// DestroyResult is what Destroy did.
type DestroyResult struct {
	Fleet       string                 `json:"fleet"`
	Stopped     []*deploy.RemoveReport `json:"stopped"`
	DeletedKeys int                    `json:"deleted_keys"`
	Queues      []string               `json:"queues"`
	Edit        *config.EditResult     `json:"edit,omitempty"`
	Warnings    []string               `json:"warnings,omitempty"`
}

// Destroy takes fleet o.Name down: refused when it is the active fleet;
// otherwise every host's worker is stopped and disabled (its releases
// deleted with Purge), the fleet's queues are deleted from Redis (runs still
// queued there are dropped), and its hosts are removed from cl.yaml in one
// edit and commit. The caller holds the deploy lock. A host that cannot be
// reached stops the destroy before anything is deleted, unless Force.
func Destroy(ctx context.Context, cfg *config.Config, st State, q QueueDeleter, stop Stopper, o DestroyOptions) (*DestroyResult, error) {
	if !cfg.HasFleet(o.Name) {
		return nil, fmt.Errorf("destroy: %w", cfg.UnknownFleetError(o.Name))
	}
	active, _, err := Active(ctx, cfg, st)
	if err != nil {
		return nil, err
	}
	if active == o.Name {
		others := ""
		for _, f := range cfg.Fleets() {
			if f != o.Name {
				others = f
				break
			}
		}
		fix := "create another fleet with `cl cluster create NEW --clone " + o.Name + "`, deploy and switch to it first"
		if others != "" {
			fix = "switch first: `cl cluster switch " + others + "`"
		}
		return nil, fmt.Errorf("destroy fleet %s: it %w (schedules and tasks go to it): %s", o.Name, ErrActive, fix)
	}
	hosts := cfg.FleetHosts(o.Name)
	edit := func(b []byte) ([]byte, error) {
		for _, h := range hosts {
			if b, err = config.RemoveHost(b, h.Name); err != nil {
				return nil, err
			}
		}
		return b, nil
	}
	res := &DestroyResult{Fleet: o.Name, Queues: Queues(cfg, o.Name)}
	for _, h := range hosts {
		rep, err := stop.StopWorker(ctx, h, o.Purge)
		if err != nil {
			if !o.Force {
				return res, fmt.Errorf("destroy fleet %s: stop the worker on %s: %w (cl.yaml and Redis unchanged; --force destroys it anyway)", o.Name, h.Name, err)
			}
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s: %v: its worker may still be running", h.Name, err))
			continue
		}
		res.Stopped = append(res.Stopped, rep)
	}
	if res.DeletedKeys, err = q.DeleteQueues(ctx, res.Queues); err != nil {
		return res, fmt.Errorf("destroy fleet %s: %w", o.Name, err)
	}
	if res.Edit, err = config.ApplyEdit(ctx, o.Load, edit, o.Commit); err != nil {
		return res, fmt.Errorf("destroy fleet %s: %w", o.Name, err)
	}
	return res, nil
}
