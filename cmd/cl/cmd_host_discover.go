package main

import (
	"bufio"
	"fmt"
	"strings"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/discover"
	"github.com/celeroot/celeroot/hostexec"
)

// HostDiscoverCmd is `cl host discover`.
type HostDiscoverCmd struct {
	Network     string        `required:"" placeholder:"CIDR" help:"Network to scan, e.g. 10.0.0.0/24 (at most a /16 without --force)."`
	Port        int           `default:"22" help:"SSH port to look for."`
	Concurrency int           `default:"256" help:"Addresses probed at once."`
	Timeout     time.Duration `default:"2s" help:"TCP connect and banner timeout per address."`
	Force       bool          `help:"Allow networks larger than /16."`
	AcceptNew   bool          `name:"accept-new" help:"Record unknown host keys in known_hosts for this scan (trust on first use); without it, strict checking reports them as unknown."`
	MinFree     int           `name:"min-free" default:"100" placeholder:"MIB" help:"Free MiB needed on deployment.target_directory's filesystem."`
	Add         bool          `help:"Add every compatible new host (needs --role; --yes when not asking on a terminal)."`
	Role        string        `help:"Role for added hosts."`
	Yes         bool          `help:"Do not ask before adding."`
	NoCommit    bool          `name:"no-commit" help:"Do not commit added hosts to git."`
}

// Run scans, prints, and adds hosts as asked.
func (c *HostDiscoverCmd) Run(a *App) error {
	cfg, err := a.LoadConfig()
	if err != nil {
		return err
	}
	if c.Add && c.Role == "" {
		return fmt.Errorf("--add needs --role ROLE (roles: %s)", strings.Join(cfg.Workers.Keys(), ", "))
	}
	if c.Role != "" {
		if _, ok := cfg.Workers.Get(c.Role); !ok {
			return fmt.Errorf("--role %s: no such role in %s (roles: %s)", c.Role, a.ConfigPath, strings.Join(cfg.Workers.Keys(), ", "))
		}
	}
	interactive := isTerminal(a.Stdin) && !a.JSON()
	if c.Add && !c.Yes && !interactive {
		return fmt.Errorf("--add without a terminal to ask on: pass --yes to add every compatible host")
	}
	opts := sshOptions(a, cfg)
	if c.AcceptNew {
		opts.Policy = hostexec.AcceptNew
	}
	prog := newProgress(a, "scanning")
	cands, err := discover.Scan(a.Ctx, discover.Options{
		Network: c.Network, Port: c.Port, Concurrency: c.Concurrency, Timeout: c.Timeout, Force: c.Force,
		Login: discover.LoginWith(cfg),
		Opts:  opts, DiskPath: cfg.Deployment.TargetDirectory, MinFree: uint64(c.MinFree) << 20,
		Progress: func(done, total int) { prog.update(done, total, "") },
	})
	prog.done()
	if err != nil {
		return err
	}
	discover.MarkKnown(cfg, cands)
	if a.JSON() && !c.Add {
		return a.PrintJSON(cands)
	}
	if !a.JSON() {
		printCandidates(a, cands)
	}
	if !c.Add && !interactive {
		return nil
	}
	added, err := c.addHosts(a, cfg, cands)
	if a.JSON() {
		if perr := a.PrintJSON(map[string]any{"candidates": cands, "added": added}); perr != nil {
			return perr
		}
	}
	return err
}

// addHosts registers compatible, not yet known candidates through the same
// path as `cl host add`.
func (c *HostDiscoverCmd) addHosts(a *App, cfg *config.Config, cands []discover.Candidate) ([]string, error) {
	in := bufio.NewReader(a.Stdin)
	names := map[string]bool{}
	for _, n := range cfg.Hosts.Keys() {
		names[n] = true
	}
	var added []string
	for _, cand := range discover.Addable(cands) {
		name, role := discover.UniqueName(cand.Suggested, names), c.Role
		if !c.Yes {
			desc := fmt.Sprintf("%s (%s, %s, %s)", cand.Address, cand.Facts.Hostname, cand.Facts.OSName, cand.Facts.Arch)
			if !ask(a, in, "add "+desc+"? [y/N] ", "n", "y") {
				continue
			}
			name = askString(a, in, "name", name)
			role = askString(a, in, "role ("+strings.Join(cfg.Workers.Keys(), ", ")+")", firstNonEmpty(append([]string{role}, cfg.Workers.Keys()...)...))
		}
		spec := discover.Spec(cfg, cand, name, role)
		msg := fmt.Sprintf("cl: add host %s (role %s)", name, role)
		if err := applyHostEdit(a, func(b []byte) ([]byte, error) { return config.AddHost(b, spec) }, msg, !c.NoCommit,
			fmt.Sprintf("added host %s (role %s)", name, role)); err != nil {
			return added, err
		}
		names[name] = true
		added = append(added, name)
	}
	return added, nil
}
