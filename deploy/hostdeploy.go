package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/hostexec"
)

// Deadlines of the steps that have no setting of their own.
const (
	stepTimeout     = 60 * time.Second
	transferRate    = 1 << 20 // bytes per second assumed at worst
	rollbackTimeout = 60 * time.Second
	logLines        = 20
	setupOutputMax  = 16 << 10
)

// hostRun is one host's deploy: an ordered list of small steps, each with
// its own deadline, then health, and a rollback when the host was switched
// but did not become healthy.
type hostRun struct {
	e    *Engine
	rel  *Release
	h    *config.Host
	r    *remote
	svc  service
	p    probeResult
	hr   *HostRelease
	rep  *HostReport
	sent atomic.Int64
	// switched is set once current may point to the new release.
	switched bool
	// done ends the steps early (the host already runs the release).
	done bool
	// ref is the heartbeat seen before the restart.
	ref beat
	// activated: the stage command switched and restarted already.
	activated bool
	// repair: the host's copy of the release is not trusted (Options.Repair).
	repair bool
	// stageS is the probe's session, waiting for what to stage (see
	// probestage.go); nil once it was used or ended.
	stageS *stageSession
}

func (e *Engine) newRun(rel *Release, h *config.Host) *hostRun {
	d := e.Config.Deployment
	run := &hostRun{e: e, rel: rel, h: h,
		rep: &HostReport{Host: h.Name, Address: h.Address, From: "?", To: rel.Version, Current: "?"}}
	run.svc = service{name: d.ServiceName, target: d.TargetDirectory, restartCommand: d.RestartCommand, host: h.Name, env: e.Env}
	return run
}

func (r *hostRun) target() string { return r.e.Config.Deployment.TargetDirectory }

func (r *hostRun) releaseDir(v string) string { return path.Join(r.target(), "releases", v) }

// deploy runs the steps and returns the host's report.
func (r *hostRun) deploy(ctx context.Context) *HostReport {
	r.rep.Started = time.Now()
	steps := []struct {
		step Step
		fn   func(context.Context) error
	}{
		{StepConnect, r.connect}, {StepProbe, r.probe}, {StepTransfer, r.transfer}, {StepSetup, r.setup},
		{StepService, r.service}, {StepSwitch, r.activate}, {StepHealth, r.health},
	}
	var err error
	for _, s := range steps {
		if r.done {
			break
		}
		if err = r.step(ctx, s.step, s.fn); err != nil {
			break
		}
	}
	r.endStage()
	switch {
	case err != nil:
		r.fail(ctx, err)
	case r.done:
		r.rep.Outcome, r.rep.Current = OutcomeUnchanged, r.rel.Version
	default:
		r.rep.Outcome, r.rep.Current = OutcomeDeployed, r.rel.Version
	}
	r.finish()
	return r.rep
}

// step runs fn with its own deadline, timing it and emitting events.
func (r *hostRun) step(ctx context.Context, s Step, fn func(context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.e.emit(Event{Host: r.h.Name, Step: s, Status: StatusStart})
	start := time.Now()
	err := fn(ctx)
	r.rep.Durations.add(s, time.Since(start))
	if err != nil {
		r.rep.FailedStep = s
		r.e.emit(Event{Host: r.h.Name, Step: s, Status: StatusFailed, Message: err.Error(), Bytes: r.sent.Load()})
		return err
	}
	r.e.emit(Event{Host: r.h.Name, Step: s, Status: StatusOK, Bytes: r.sent.Load()})
	return nil
}

func (r *hostRun) connect(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.e.Config.SSH.Timeout.D()+stepTimeout)
	defer cancel()
	h, err := r.e.Hosts.Open(ctx, r.h)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", r.h.Name, err)
	}
	r.r = &remote{host: h, name: r.h.Name, target: r.target(), sent: &r.sent, helper: r.e.binaries().HelperSum()}
	return nil
}

// probe reads the host's state and assembles its release; a host already
// running the release with a live worker is done.
func (r *hostRun) probe(ctx context.Context) error {
	stepCtx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	// The session outlives the step: the transfer feeds it.
	p, err := r.openStage(ctx, stepCtx)
	if err != nil {
		return err
	}
	ctx = stepCtx
	r.p, r.svc.systemd = p, p.Systemd
	r.rep.Arch, r.rep.From, r.rep.Current, r.rep.Helper = p.Arch, p.Current, p.Current, p.Helper
	bin, err := r.e.binaries().For("linux", p.Arch)
	if err != nil {
		return fmt.Errorf("%s (uname -m: %s): %w", r.h.Name, p.Machine, err)
	}
	w := WorkerSpec{Host: r.h.Name, Role: r.h.Role, Cluster: r.e.Config.Cluster.Name, Env: r.e.Env}
	if r.hr, err = r.rel.ForHost(w, bin); err != nil {
		return err
	}
	if p.Current == r.rel.Version && p.Present == r.hr.Manifest.Hash() && !r.repair {
		if b := r.lastBeat(ctx); b.ok && b.hb.SHA == r.rel.Version {
			r.done = true
			r.endStage()
		}
	}
	return nil
}

// openStage starts the probe-and-stage session (probestage.go) and
// returns the probe's result; the session then waits for the transfer.
// A host without the library gets it installed, and the session again.
func (r *hostRun) openStage(ctx, stepCtx context.Context) (probeResult, error) {
	args := []string{r.target(), r.rel.Version, r.svc.unitPath(), r.svc.name, StateDir}
	for attempt := 0; ; attempt++ {
		s, err := r.r.startStage(ctx, args...)
		if err != nil {
			return probeResult{}, fmt.Errorf("probe on %s: %w", r.h.Name, err)
		}
		out, ok, err := s.ready(stepCtx)
		switch {
		case ok:
			r.stageS = s
			return r.r.probeOf(out)
		case err != nil:
			return probeResult{}, fmt.Errorf("probe on %s: %w", r.h.Name, err)
		case s.err == nil && s.res.ExitCode == libMissing && attempt == 0:
			if err := r.r.install(stepCtx); err != nil {
				return probeResult{}, err
			}
			continue
		}
		return probeResult{}, r.r.failed("probe", s.res, s.stderr, s.err)
	}
}

// endStage ends the probe's session when it still waits: nothing staged.
func (r *hostRun) endStage() {
	if r.stageS != nil {
		r.stageS.end()
		r.stageS = nil
	}
}

// transfer makes releases/<version> on the host: hard links to the
// unchanged files of the current release plus a tar of the others.
func (r *hostRun) transfer(ctx context.Context) error {
	if r.p.Present == r.hr.Manifest.Hash() && !r.repair {
		r.rep.Transfer = "none"
		r.endStage()
		return nil
	}
	base, baseName := r.p.Manifest, ""
	if r.repair {
		base = nil // nothing linked from a copy that may have been changed
	}
	if base != nil {
		baseName = base.Version
	}
	d := Diff(base, r.hr.Manifest)
	r.rep.FilesSent, r.rep.FilesLinked, r.rep.FilesRemoved = len(d.Send), len(d.Keep), len(d.Removed)
	r.rep.Transfer = "full"
	if len(d.Keep) > 0 {
		r.rep.Transfer = "delta"
	}
	opts := func(full bool) payloadOptions {
		return payloadOptions{gzip: r.p.Gzip && worthCompressing(d, r.hr.Manifest, full), fullManifest: full}
	}
	err := r.stage(ctx, d, baseName, opts(!r.p.SHA256))
	if errors.Is(err, errManifestMismatch) {
		err = r.stage(ctx, d, baseName, opts(true))
	}
	return err
}

// smallPayload is the size under which a payload goes uncompressed: the
// host's gzip process costs more than the few KiB it would save (a
// one-file change is about that), even on a slow link.
const smallPayload = 16 << 10

// worthCompressing reports whether delta d of release m is big enough to
// gzip: its files plus a tar header each, and the whole manifest when it
// is sent (full, or nothing kept).
func worthCompressing(d Delta, m *Manifest, full bool) bool {
	n := 0
	for _, e := range d.Send {
		n += 512 + int(e.Size)
	}
	if full || len(d.Keep) == 0 {
		n += len(m.Encode())
	}
	return n >= smallPayload
}

// reloadable reports whether the worker can take the new release without
// a restart: it says it reloads (its heartbeat), runs the release the delta
// is based on, no restart_command is configured, and only task files
// change (not bin/cl, the configuration or anything else it reads at
// start). The host library then signals it; the health check is the same.
func (r *hostRun) reloadable(d Delta) bool {
	if !r.ref.ok || !r.ref.hb.Reload || r.ref.hb.PID <= 0 || r.p.Manifest == nil || r.ref.hb.SHA != r.p.Current ||
		r.e.Config.Deployment.RestartCommand != "" {
		return false
	}
	for _, e := range d.Send {
		if !strings.HasPrefix(e.Path, "tasks/") {
			return false
		}
	}
	for _, p := range d.Removed {
		if !strings.HasPrefix(p, "tasks/") {
			return false
		}
	}
	return len(d.Send)+len(d.Removed) > 0
}

// activateEarly reports whether the switch can ride on the stage command:
// nothing (setup_command, a unit to install) has to run in between.
func (r *hostRun) activateEarly() bool {
	return len(r.e.Config.Deployment.SetupCommand) == 0 && r.svc.installed(r.p)
}

var errManifestMismatch = errors.New("merged manifest mismatch")

func (r *hostRun) stage(ctx context.Context, d Delta, base string, o payloadOptions) error {
	data, err := r.hr.payload(&r.e.cache, d, o)
	if err != nil {
		return fmt.Errorf("build the payload for %s: %w", r.h.Name, err)
	}
	timeout := stepTimeout + time.Duration(data.Len()/transferRate)*time.Second
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	gz := "0"
	if o.gzip {
		gz = "1"
	}
	args := []string{r.target(), r.rel.Version, base, r.hr.Manifest.Hash(), gz, strconv.Itoa(r.e.Config.Deployment.KeepReleases)}
	early := r.activateEarly()
	if early {
		r.ref = r.lastBeat(ctx)
		if r.reloadable(d) {
			args = append(args, "reload", strconv.Itoa(r.ref.hb.PID), "--")
		}
		args = append(args, r.svc.restartArgv()...)
	}
	res, out, stderr, err := r.sendStage(ctx, data, args)
	if err == nil && res.ExitCode == manifestMismatch {
		return errManifestMismatch
	}
	r.pruned(out)
	if early && strings.Contains(out, "switched\n") {
		// Current points to the new release now; a failed restart is
		// rolled back like any failure after the switch.
		r.switched, r.activated = true, true
		r.rep.Reloaded = strings.Contains(out, "reloaded\n")
	}
	return r.r.failed("stage release "+r.rel.Short(), res, stderr, err)
}

// sendStage runs stage with args and data on its stdin: on the probe's
// session when it still waits, else (a retry, an argument with a newline)
// in a session of its own. It returns stage's output.
func (r *hostRun) sendStage(ctx context.Context, data payloadParts, args []string) (hostexec.Result, string, string, error) {
	if s := r.stageS; s != nil {
		r.stageS = nil
		if input, ok := stageInput(args); ok {
			return s.send(ctx, input, data.Reader())
		}
		s.end()
	}
	var out bytes.Buffer
	res, stderr, err := r.r.call(ctx, &out, maxOutput, data.Reader(), "stage", args...)
	return res, out.String(), stderr, err
}

// pruned records the releases the host library reports it deleted.
func (r *hostRun) pruned(out string) {
	for _, l := range lastLines(out, 1<<20) {
		if v, ok := strings.CutPrefix(l, "pruned="); ok {
			r.rep.Pruned = append(r.rep.Pruned, v)
		}
	}
}

// setup runs deployment.setup_command in the new release directory.
func (r *hostRun) setup(ctx context.Context) error {
	argv := r.e.Config.Deployment.SetupCommand
	if len(argv) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.e.Config.Deployment.SetupTimeout.D())
	defer cancel()
	var out tailBuffer
	dir := r.releaseDir(r.rel.Version)
	res, err := r.r.host.Run(ctx, hostexec.Command{Argv: argv, Dir: dir, Stdout: &out, Stderr: &out,
		Env: map[string]string{"CL_RELEASE": r.rel.Version, "CL_RELEASE_DIR": dir, "CL_HOST": r.h.Name}})
	for _, a := range argv {
		r.sent.Add(int64(len(a)) + 1)
	}
	r.rep.SetupOutput = out.String()
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		return fmt.Errorf("setup_command on %s did not finish within %s", r.h.Name, r.e.Config.Deployment.SetupTimeout)
	case err != nil:
		return fmt.Errorf("setup_command on %s: %w", r.h.Name, err)
	case !res.OK():
		return fmt.Errorf("setup_command on %s exited with status %d (output in the report)", r.h.Name, res.ExitCode)
	}
	return nil
}

func (r *hostRun) service(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	return r.svc.install(ctx, r.r, r.p)
}

// activate switches current to the new release and restarts the worker
// (unless the stage command did).
func (r *hostRun) activate(ctx context.Context) error {
	if r.activated {
		return nil
	}
	ref := r.lastBeat(ctx)
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	r.switched = true
	if err := r.switchTo(ctx, r.rel.Version); err != nil {
		return err
	}
	r.ref = ref
	return nil
}

func (r *hostRun) switchTo(ctx context.Context, v string) error {
	args := append([]string{r.target(), v}, r.svc.restartArgv()...)
	return r.r.callCheck(ctx, nil, 0, nil, "switch to "+ShortVersion(v)+" and restart the worker", "activate", args...)
}

func (r *hostRun) health(ctx context.Context) error {
	return r.healthy(ctx, r.rel.Version, r.ref)
}

func (r *hostRun) finish() {
	r.rep.BytesSent = r.sent.Load()
	r.rep.Finished = time.Now()
	r.rep.Durations.Total = r.rep.Finished.Sub(r.rep.Started).Milliseconds()
	msg := ""
	if r.rep.Outcome != OutcomeDeployed && r.rep.Outcome != OutcomeUnchanged {
		msg = r.rep.Error
	}
	r.e.emit(Event{Host: r.h.Name, Step: StepDone, Status: StatusInfo, Outcome: r.rep.Outcome, Bytes: r.rep.BytesSent, Message: msg})
}
