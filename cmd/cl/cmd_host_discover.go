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
		Login: func(addr string, port int) hostexec.Target {
			t := hostexec.Target{Name: addr, Address: addr, Port: port, User: cfg.SSH.DefaultUser, Become: cfg.SSH.Become}
			if cfg.SSH.DefaultKey != "" {
				t.KeyFiles = []string{config.ExpandHome(cfg.SSH.DefaultKey)}
			}
			return t
		},
		Opts: opts, DiskPath: cfg.Deployment.TargetDirectory, MinFree: uint64(c.MinFree) << 20,
		Progress: func(done, total int) { prog.update(done, total, "") },
	})
	prog.done()
	if err != nil {
		return err
	}
	markKnown(cfg, cands)
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

func markKnown(cfg *config.Config, cands []discover.Candidate) {
	for i := range cands {
		for _, h := range cfg.Hosts.Values() {
			cn := cfg.ConnFor(h)
			if cn.Address == cands[i].Address && cn.Port == cands[i].Port {
				cands[i].Known = h.Name
			}
		}
	}
}

func printCandidates(a *App, cands []discover.Candidate) {
	t := newTable(a.Stdout, "ADDRESS", "HOSTNAME", "OS", "ARCH", "LOGIN", "COMPATIBLE", "SUGGESTED", "IN_CL.YAML")
	for _, c := range cands {
		hostname, osName, arch, login, compat := "-", "-", "-", "ok", "yes"
		if c.Facts != nil {
			hostname, osName, arch = c.Facts.Hostname, c.Facts.OSName, c.Facts.Arch
		}
		if !c.LoggedIn {
			login, compat = "failed: "+c.Reason, "unknown"
		} else if !c.Compatible {
			compat = "no: " + strings.Join(c.Why, "; ")
		}
		t.row(c.Address, hostname, osName, arch, login, compat, orDashStr(c.Suggested), orDashStr(c.Known))
	}
	t.flush()
	fmt.Fprintf(a.Stdout, "%d SSH servers found\n", len(cands))
	for _, c := range cands {
		if c.Reason == "host key unknown" {
			fmt.Fprintln(a.Stdout, "some host keys are unknown: verify them, then rerun with --accept-new to record them")
			break
		}
	}
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
	for _, cand := range cands {
		if !cand.Compatible || cand.Known != "" {
			continue
		}
		name, role := uniqueName(cand.Suggested, names), c.Role
		if !c.Yes {
			desc := fmt.Sprintf("%s (%s, %s, %s)", cand.Address, cand.Facts.Hostname, cand.Facts.OSName, cand.Facts.Arch)
			if !ask(a, in, "add "+desc+"? [y/N] ", "n", "y") {
				continue
			}
			name = askString(a, in, "name", name)
			role = askString(a, in, "role ("+strings.Join(cfg.Workers.Keys(), ", ")+")", firstNonEmpty(append([]string{role}, cfg.Workers.Keys()...)...))
		}
		spec := config.HostSpec{Name: name, Role: role, Address: cand.Address}
		if cand.Port != cfg.SSH.DefaultPort {
			spec.Port = cand.Port
		}
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

func uniqueName(base string, taken map[string]bool) string {
	name := base
	for i := 2; taken[name]; i++ {
		name = fmt.Sprintf("%s-%d", base, i)
	}
	return name
}

func ask(a *App, in *bufio.Reader, q, def, yes string) bool {
	fmt.Fprint(a.Stderr, q)
	line, _ := in.ReadString('\n')
	ans := strings.ToLower(strings.TrimSpace(line))
	if ans == "" {
		ans = def
	}
	return ans == yes || ans == "yes"
}

func askString(a *App, in *bufio.Reader, what, def string) string {
	fmt.Fprintf(a.Stderr, "%s [%s]: ", what, def)
	line, _ := in.ReadString('\n')
	if v := strings.TrimSpace(line); v != "" {
		return v
	}
	return def
}
