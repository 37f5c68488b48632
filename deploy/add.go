package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/hostexec"
)

// The steps of `cl host add`, the seed's seven.
const (
	StepSSH           Step = "ssh"
	StepPrerequisites Step = "prerequisites"
	StepCode          Step = "code"
	StepConfiguration Step = "configuration"
	StepRegistration  Step = "registration"
)

// DefaultMinFree is the free space a new host needs on the target's file
// system besides the release itself.
const DefaultMinFree = 100 << 20

// AddOptions describe a host to add.
type AddOptions struct {
	Load    config.Options  // where cl.yaml is; Env is the worker's overlay
	Spec    config.HostSpec // the host as given on the command line
	Commit  bool            // commit the registration (cl.yaml in a git work tree)
	Message string          // the commit message
	// Repo is the git work tree holding cl.yaml; nil when there is none.
	Repo    RepoCommitter
	MinFree uint64 // DefaultMinFree when zero
}

// StepReport is one step of an add.
type StepReport struct {
	Step    Step   `json:"step"`
	OK      bool   `json:"ok"`
	Ms      int64  `json:"ms"`
	Message string `json:"message,omitempty"`
}

// AddReport is the plain-data result of `cl host add`.
type AddReport struct {
	Host         string       `json:"host"`
	Version      string       `json:"version"`
	Steps        []StepReport `json:"steps"`
	Deploy       *HostReport  `json:"deploy,omitempty"`
	Registered   bool         `json:"registered"`
	Path         string       `json:"path"`
	Commit       string       `json:"commit,omitempty"`
	NotCommitted string       `json:"not_committed,omitempty"`
	// Leftovers name what a failed add could not remove from the host.
	Leftovers []string `json:"leftovers,omitempty"`
	Error     string   `json:"error,omitempty"`
}

// adder runs the seven steps of one add.
type adder struct {
	e       *Engine
	o       AddOptions
	rep     *AddReport
	host    *config.Host
	orig    []byte   // cl.yaml as read before the add
	content []byte   // cl.yaml with the host
	pending *pending // nil without a commit
	rel     *Release
	run     *hostRun
	pre     prereqs
}

// Add runs the seed's seven steps for a new host: SSH test, prerequisites,
// code distribution, service setup, configuration, health check,
// registration in cl.yaml (and commit). The release deployed is the one
// the registration creates: the registration commit itself (prepared up
// front, the branch moved at the end), or with Commit false the work tree
// with the new cl.yaml. Any failure leaves cl.yaml alone and removes what
// was put on the host; what could not be removed is listed in Leftovers.
// The host is deployed with cl.yaml as the add edits it (read from
// o.Load.Path, validated with the host), not with e.Config; e gives the
// connections, heartbeats, binaries, events and log. The caller holds the
// deploy lock (Locked).
func (e *Engine) Add(ctx context.Context, o AddOptions) (*AddReport, error) {
	a := &adder{o: o, rep: &AddReport{Host: o.Spec.Name, Path: o.Load.Path}}
	if err := a.prepare(ctx, e); err != nil {
		a.rep.Error = err.Error()
		return a.rep, err
	}
	steps := []struct {
		step Step
		fn   func(context.Context) error
	}{
		{StepSSH, a.ssh}, {StepPrerequisites, a.prerequisites}, {StepCode, a.code}, {StepService, a.run.service},
		{StepConfiguration, a.run.activate}, {StepHealth, a.run.health}, {StepRegistration, a.register},
	}
	for _, s := range steps {
		if err := a.step(ctx, s.step, s.fn); err != nil {
			a.rep.Error = fmt.Sprintf("%s: %v", s.step, err)
			a.cleanup(context.WithoutCancel(ctx), s.step)
			a.finishDeploy(OutcomeFailed)
			return a.rep, fmt.Errorf("add host %s: %s", o.Spec.Name, a.rep.Error)
		}
	}
	a.finishDeploy(OutcomeDeployed)
	return a.rep, nil
}

// prepare edits cl.yaml in memory, validates it, and builds the release.
// The file is loaded once, as edited: the edited file must be valid as a
// whole.
func (a *adder) prepare(ctx context.Context, e *Engine) error {
	data, err := os.ReadFile(a.o.Load.Path)
	if err != nil {
		return fmt.Errorf("add host %s: %w", a.o.Spec.Name, err)
	}
	a.orig = data
	if a.content, err = config.AddHost(data, a.o.Spec); err != nil {
		return err
	}
	cfg, diags, err := config.Load(config.Options{Path: a.o.Load.Path, Env: a.o.Load.Env, Content: a.content})
	if err != nil {
		return err
	}
	if diags.HasErrors() {
		return fmt.Errorf("refusing the change, it would make %s invalid (file left untouched):\n%w", a.o.Load.Path, diags.Errors())
	}
	a.host, _ = cfg.Hosts.Get(a.o.Spec.Name)
	if a.rel, err = a.release(ctx); err != nil {
		return err
	}
	a.rep.Version = a.rel.Version
	a.e = e.withConfig(cfg)
	a.run = a.e.newRun(a.rel, a.host)
	a.run.rep.From = ""
	return nil
}

// pending is the registration commit, stored but on no branch yet: the
// host is deployed at the SHA its registration will have, and the branch
// moves (register) only once the host is healthy.
type pending struct {
	parent, commit string
}

// release is the registration commit's tree, or the work tree with the
// new cl.yaml when not committing.
func (a *adder) release(ctx context.Context) (*Release, error) {
	name := filepath.Base(a.o.Load.Path)
	if a.o.Commit && a.o.Repo != nil {
		head, err := a.o.Repo.Head(ctx)
		if err != nil {
			return nil, fmt.Errorf("prepare commit of %s: %w", a.o.Load.Path, err)
		}
		sha, err := a.o.Repo.Prepare(ctx, name, a.content, a.o.Message)
		if err != nil {
			return nil, err
		}
		a.pending = &pending{parent: head, commit: sha}
		return FromCommit(ctx, a.o.Repo, sha)
	}
	var repo Repo
	if a.o.Repo != nil {
		repo = a.o.Repo
	}
	rel, err := FromWorkTree(ctx, WorkTreeOptions{ConfigPath: a.o.Load.Path, Repo: repo, AllowDirty: true,
		Override: map[string][]byte{name: a.content}})
	if errors.Is(err, ErrNotGit) {
		return nil, fmt.Errorf("%w (or add the host with --no-deploy)", err)
	}
	return rel, err
}

func (a *adder) step(ctx context.Context, s Step, fn func(context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	a.e.emit(Event{Host: a.host.Name, Step: s, Status: StatusStart})
	start := time.Now()
	err := fn(ctx)
	sr := StepReport{Step: s, OK: err == nil, Ms: time.Since(start).Milliseconds()}
	if err != nil {
		sr.Message = err.Error()
		a.e.emit(Event{Host: a.host.Name, Step: s, Status: StatusFailed, Message: err.Error()})
	} else {
		a.e.emit(Event{Host: a.host.Name, Step: s, Status: StatusOK})
	}
	a.rep.Steps = append(a.rep.Steps, sr)
	return err
}

func (a *adder) ssh(ctx context.Context) error {
	if err := a.run.connect(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	return a.run.r.check(ctx, "run a command", hostexec.Command{Argv: []string{"true"}})
}

func (a *adder) prerequisites(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	p, err := a.run.r.prereqs(ctx, a.run.svc.unitPath(), path.Join(StateDir, a.run.svc.name))
	if err != nil {
		return err
	}
	a.pre = p
	a.run.rep.Arch = p.Arch
	bin, err := a.e.binaries().For("linux", p.Arch)
	if err != nil {
		return fmt.Errorf("%s (uname -m: %s): %w", a.host.Name, p.Machine, err)
	}
	minFree := a.o.MinFree
	if minFree == 0 {
		minFree = DefaultMinFree
	}
	var tree uint64
	for _, f := range a.rel.Files {
		tree += uint64(f.Size)
	}
	user := a.e.Config.ConnFor(a.host).User
	return p.verdict(a.host.Name, a.run.target(), user, uint64(bin.Size)+tree+minFree)
}

// code stages the release (tree, binary, worker configuration) and runs
// setup_command.
func (a *adder) code(ctx context.Context) error {
	for _, fn := range []func(context.Context) error{a.run.probe, a.run.transfer, a.run.setup} {
		if err := fn(ctx); err != nil {
			return err
		}
	}
	return nil
}

// register writes cl.yaml and commits it (moving the branch to the
// prepared commit), or only writes it, under the registry lock
// (config.LockFile). cl.yaml changed by another cl since prepare read it
// is an error: writing the prepared file would undo that change, and the
// host runs a release made from the old one.
func (a *adder) register(ctx context.Context) error {
	unlock, err := config.LockFile(ctx, a.o.Load.Path)
	if err != nil {
		return err
	}
	defer unlock()
	cur, err := os.ReadFile(a.o.Load.Path)
	if err != nil {
		return fmt.Errorf("register host %s: %w", a.o.Spec.Name, err)
	}
	if !bytes.Equal(cur, a.orig) {
		return fmt.Errorf("%s was changed by another cl while host %s was being deployed; it is not registered: run `cl host add` again", a.o.Load.Path, a.o.Spec.Name)
	}
	if a.pending != nil {
		write := func() error { return config.WriteFileAtomic(a.o.Load.Path, a.content, 0o644) }
		if err := a.o.Repo.Advance(ctx, a.pending.parent, a.pending.commit, filepath.Base(a.o.Load.Path), write); err != nil {
			return err
		}
		a.rep.Commit = a.pending.commit
	} else {
		if err := config.WriteFileAtomic(a.o.Load.Path, a.content, 0o644); err != nil {
			return err
		}
		a.rep.NotCommitted = "--no-commit"
		if a.o.Commit {
			a.rep.NotCommitted = "not in a git work tree"
		}
	}
	a.rep.Registered = true
	return nil
}

func (a *adder) finishDeploy(o Outcome) {
	if a.run == nil {
		return
	}
	if a.run.rep.Outcome == "" {
		a.run.rep.Outcome = o
		if o == OutcomeDeployed {
			a.run.rep.Current = a.rel.Version
		}
	}
	a.run.rep.BytesSent = a.run.sent.Load()
	a.rep.Deploy = a.run.rep
}
