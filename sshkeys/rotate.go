package sshkeys

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/hostexec"
)

// Options say what to rotate and how.
type Options struct {
	Config *config.Config
	// DryRun connects with the current keys and checks that every host's
	// authorized_keys can be rewritten; it changes nothing.
	DryRun bool
	// Parallel bounds the hosts worked on at once (default 16).
	Parallel int
	Log      *slog.Logger
	// Now stamps the backups (default time.Now).
	Now func() time.Time
}

// Report is what a rotation did, per key file.
type Report struct {
	DryRun bool         `json:"dry_run"`
	Keys   []*KeyReport `json:"keys"`
	// Skipped hosts, with why (local hosts, hosts without a key file).
	Skipped []HostResult `json:"skipped,omitempty"`
}

// KeyReport is one key file's rotation.
type KeyReport struct {
	File           string       `json:"file"`
	OldFingerprint string       `json:"old_fingerprint"`
	NewFingerprint string       `json:"new_fingerprint,omitempty"`
	Backup         string       `json:"backup,omitempty"`
	Pruned         []string     `json:"pruned_backups,omitempty"`
	Hosts          []HostResult `json:"hosts"`
	// Rotated: the new key is installed locally.
	Rotated bool `json:"rotated"`
}

// HostResult is one host's part of a rotation.
type HostResult struct {
	Host string `json:"host"`
	// Step is the last step reached: check, add, verify, remove (or skip).
	Step  string `json:"step"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// Failed lists the hosts of r that did not pass.
func (r *KeyReport) Failed() []string {
	var out []string
	for _, h := range r.Hosts {
		if !h.OK {
			out = append(out, h.Host)
		}
	}
	return out
}

// ErrAborted: some host failed before the switch; nothing was removed.
var ErrAborted = errors.New("key rotation aborted")

// Rotate rotates every key file the hosts log in with (see the package
// doc). The error says which hosts failed and what was left as it was.
func Rotate(ctx context.Context, o Options) (*Report, error) {
	if o.Parallel <= 0 {
		o.Parallel = 16
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	// Every host that logs in with a key file takes part: the file is
	// replaced here, so a host left out would be locked out. Local hosts
	// are skipped (no SSH key logs in to them).
	hosts := o.Config.Hosts.Values()
	rep := &Report{DryRun: o.DryRun}
	groups := map[string][]*config.Host{}
	for _, h := range hosts {
		switch key := config.ExpandHome(o.Config.ConnFor(h).Key); {
		case hostexec.IsLocal(h):
			rep.Skipped = append(rep.Skipped, HostResult{Host: h.Name, Step: "skip", OK: true, Error: "local host: no SSH key"})
		case key == "":
			rep.Skipped = append(rep.Skipped, HostResult{Host: h.Name, Step: "skip", OK: true,
				Error: "no key file (ssh-agent only): set ssh.default_key or the host's ssh.key to rotate it"})
		default:
			groups[key] = append(groups[key], h)
		}
	}
	files := make([]string, 0, len(groups))
	for f := range groups {
		files = append(files, f)
	}
	sort.Strings(files)
	for _, f := range files {
		kr, err := rotateFile(ctx, o, f, groups[f])
		rep.Keys = append(rep.Keys, kr)
		if err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// rotator is one key file's rotation.
type rotator struct {
	o      Options
	file   string
	hosts  []*config.Host
	old    *KeyPair
	next   *KeyPair
	rep    *KeyReport
	result map[string]*HostResult
	mu     sync.Mutex
}

func rotateFile(ctx context.Context, o Options, file string, hosts []*config.Host) (*KeyReport, error) {
	rep := &KeyReport{File: file}
	old, err := ReadKeyPair(file)
	if err != nil {
		return rep, err
	}
	rep.OldFingerprint = old.Fingerprint()
	r := &rotator{o: o, file: file, hosts: hosts, old: old, rep: rep, result: map[string]*HostResult{}}
	for _, h := range hosts {
		r.result[h.Name] = &HostResult{Host: h.Name}
	}
	defer r.collect()

	viaOld := func(ctx context.Context, h *config.Host) (hostexec.Host, error) { return r.open(ctx, h, file, true) }

	if o.DryRun {
		r.each(ctx, "check", viaOld, func(ctx context.Context, hx hostexec.Host, _ *config.Host) error {
			return runScript(ctx, hx, checkScript, nil)
		})
		if failed := r.failed(); len(failed) > 0 {
			return rep, fmt.Errorf("%w (dry run): %s cannot take a new key: see the report", ErrAborted, strings.Join(failed, ", "))
		}
		return rep, nil
	}

	if r.next, err = NewKeyPair(fmt.Sprintf("celeroot-%s", o.Now().UTC().Format("20060102T150405Z"))); err != nil {
		return rep, err
	}
	rep.NewFingerprint = r.next.Fingerprint()
	staged := file + ".new"
	if err := r.next.WriteFiles(staged); err != nil {
		return rep, err
	}
	added := r.each(ctx, "add", viaOld, func(ctx context.Context, hx hostexec.Host, _ *config.Host) error {
		return runScript(ctx, hx, addScript, strings.NewReader(r.next.AuthorizedLine()), r.next.Blob())
	})
	verified := map[string]bool{}
	if len(r.failed()) == 0 {
		verified = r.each(ctx, "verify", func(ctx context.Context, h *config.Host) (hostexec.Host, error) {
			return r.open(ctx, h, staged, false)
		}, func(ctx context.Context, hx hostexec.Host, _ *config.Host) error {
			return runScript(ctx, hx, "true", nil)
		})
	}
	if failed := r.failed(); len(failed) > 0 || len(verified) != len(hosts) {
		r.undo(ctx, added, viaOld)
		removeFiles(staged)
		return rep, fmt.Errorf("%w: %s failed (see the report); the new key was taken out again where it had been added, nothing else was removed, and %s is still the key in use",
			ErrAborted, strings.Join(failed, ", "), file)
	}

	// Every host takes the new key: install it here before the old one is
	// removed anywhere, so a crash in between leaves both keys working.
	backup, pruned, err := install(file, staged, r.old, r.next, o.Now(), o.Config.SSH.KeyRotation.BackupKeys)
	if err != nil {
		r.undo(ctx, added, viaOld)
		removeFiles(staged)
		return rep, fmt.Errorf("%w: install the new key as %s: %v; the new key was taken out again", ErrAborted, file, err)
	}
	rep.Backup, rep.Pruned, rep.Rotated = backup, pruned, true
	r.each(ctx, "remove", func(ctx context.Context, h *config.Host) (hostexec.Host, error) {
		return r.open(ctx, h, file, false)
	}, func(ctx context.Context, hx hostexec.Host, _ *config.Host) error {
		return runScript(ctx, hx, removeScript, nil, r.old.Blob())
	})
	if failed := r.failed(); len(failed) > 0 {
		return rep, fmt.Errorf("the new key is in use, but the old key (%s, kept in %s) is still authorized on %s: remove its line from ~/.ssh/authorized_keys there",
			rep.OldFingerprint, backup, strings.Join(failed, ", "))
	}
	return rep, nil
}

// open connects to h: through a fresh connection with only keyFile when
// !withAgent (the verify and remove steps: the new key must work alone),
// else with the configured authentication. Key edits are the login user's:
// ssh.become is not used.
func (r *rotator) open(ctx context.Context, h *config.Host, keyFile string, withAgent bool) (hostexec.Host, error) {
	t, err := hostexec.TargetFor(r.o.Config, h)
	if err != nil {
		return nil, err
	}
	t.Become = ""
	t.KeyFiles = []string{keyFile}
	opts := hostexec.OptionsFor(r.o.Config, r.o.Log)
	opts.Agent = withAgent
	return hostexec.Dial(ctx, t, opts)
}

// each runs fn on every host (at most Parallel at once), recording the
// step; it returns the hosts where fn succeeded.
func (r *rotator) each(ctx context.Context, step string, open func(context.Context, *config.Host) (hostexec.Host, error),
	fn func(context.Context, hostexec.Host, *config.Host) error) map[string]bool {
	ok := map[string]bool{}
	sem := make(chan struct{}, r.o.Parallel)
	var wg sync.WaitGroup
	for _, h := range r.hosts {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			err := func() error {
				hx, err := open(ctx, h)
				if err != nil {
					return err
				}
				defer hx.Close()
				return fn(ctx, hx, h)
			}()
			r.mu.Lock()
			defer r.mu.Unlock()
			res := r.result[h.Name]
			res.Step, res.OK, res.Error = step, err == nil, ""
			if err != nil {
				res.Error = err.Error()
				r.o.Log.Warn("key rotation", "host", h.Name, "step", step, "err", err)
				return
			}
			ok[h.Name] = true
		})
	}
	wg.Wait()
	return ok
}

// undo removes the new key from the hosts it was added to; their results
// keep the step that failed elsewhere.
func (r *rotator) undo(ctx context.Context, added map[string]bool, open func(context.Context, *config.Host) (hostexec.Host, error)) {
	for _, h := range r.hosts {
		if !added[h.Name] {
			continue
		}
		hx, err := open(ctx, h)
		if err == nil {
			err = runScript(ctx, hx, removeScript, nil, r.next.Blob())
			hx.Close()
		}
		if err != nil {
			r.mu.Lock()
			res := r.result[h.Name]
			res.OK, res.Error = false, fmt.Sprintf("could not take the new key out again (%v): remove the line with %s from its authorized_keys", err, r.next.Fingerprint())
			r.mu.Unlock()
		}
	}
}

// failed lists the hosts that have not passed their last step.
func (r *rotator) failed() []string {
	r.collect()
	return r.rep.Failed()
}

func (r *rotator) collect() {
	r.rep.Hosts = r.rep.Hosts[:0]
	for _, h := range r.hosts {
		r.rep.Hosts = append(r.rep.Hosts, *r.result[h.Name])
	}
}

// runScript runs script with sh -c on hx, args as $1…; a non-zero exit is
// an error with the script's last output line.
func runScript(ctx context.Context, hx hostexec.Host, script string, stdin *strings.Reader, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	c := hostexec.Command{Argv: append([]string{"/bin/sh", "-c", script, "sh"}, args...), Stdout: &out, Stderr: &out, MaxStdout: 64 << 10}
	if stdin != nil {
		c.Stdin = stdin
	}
	res, err := hx.Run(ctx, c)
	if err != nil {
		return err
	}
	if !res.OK() {
		msg := strings.TrimSpace(out.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		return fmt.Errorf("exit status %d: %s", res.ExitCode, msg)
	}
	return nil
}
