package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/deploy"
	gitsync "github.com/celeroot/celeroot/sync"
)

// HostCmd groups the host registry commands.
type HostCmd struct {
	Add        HostAddCmd        `cmd:"" help:"Add a host: SSH test, prerequisites, deploy, health check, then register it in cl.yaml (and commit)."`
	Remove     HostRemoveCmd     `cmd:"" help:"Stop and disable a host's worker and remove the host from cl.yaml (and commit)."`
	Deploy     HostDeployCmd     `cmd:"" help:"Deploy the config repository's commit to hosts: delta sync, restart, health check, rollback."`
	Update     HostUpdateCmd     `cmd:"" help:"Change a host's role, address, SSH settings or tags."`
	List       HostListCmd       `cmd:"" help:"List hosts."`
	Status     HostStatusCmd     `cmd:"" help:"Check reachability, host keys and facts of hosts over SSH (exit 1 when any is down)."`
	Discover   HostDiscoverCmd   `cmd:"" help:"Scan a network for SSH hosts, check them, and offer to add them."`
	RotateKeys HostRotateKeysCmd `cmd:"" name:"rotate-keys" help:"Rotate the SSH keys cl logs in with: new key on every host, verified alone, then the old one removed (all or nothing)."`
}

// hostFlags are the settings add and update share.
type hostFlags struct {
	Address string   `help:"IP address or DNS name (add: defaults to NAME)."`
	User    string   `help:"SSH login user (default: ssh.default_user)."`
	Port    int      `help:"SSH port (default: ssh.default_port)."`
	SSHKey  string   `name:"ssh-key" placeholder:"PATH" help:"SSH private key file (default: ssh.default_key)."`
	Jump    string   `placeholder:"[USER@]HOST[:PORT]" help:"Jump host for this host (none: no jump even if ssh.jump_host is set)."`
	Tag     []string `placeholder:"K=V" help:"Tag the host (repeatable)."`
}

func (f hostFlags) spec(name, role string) (config.HostSpec, error) {
	tags, err := config.ParseTags(f.Tag)
	if err != nil {
		return config.HostSpec{}, err
	}
	if f.Port < 0 || f.Port > 65535 {
		return config.HostSpec{}, fmt.Errorf("--port %d: use a port between 1 and 65535", f.Port)
	}
	return config.HostSpec{Name: name, Role: role, Address: f.Address, User: f.User, Port: f.Port, Key: f.SSHKey, Jump: f.Jump, Tags: tags}, nil
}

// HostAddCmd is `cl host add`.
type HostAddCmd struct {
	Name string `arg:"" help:"Host name (letters, digits, . _ -)."`
	Role string `required:"" help:"Worker role (a key of workers:)."`
	hostFlags
	NoDeploy bool `name:"no-deploy" help:"Only register the host in cl.yaml; do not deploy to it."`
	NoCommit bool `name:"no-commit" help:"Do not commit the change to git (the host then runs the dirty work tree's release)."`
}

// Run deploys to the host and registers it (see addHost), or only
// registers it with --no-deploy.
func (c *HostAddCmd) Run(a *App) error {
	spec, err := c.spec(c.Name, c.Role)
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("cl: add host %s (role %s)", c.Name, c.Role)
	if !c.NoDeploy {
		return addHost(a, spec, msg, !c.NoCommit)
	}
	return applyHostEdit(a, func(b []byte) ([]byte, error) { return config.AddHost(b, spec) }, msg, !c.NoCommit,
		fmt.Sprintf("added host %s (role %s)", c.Name, c.Role))
}

// HostRemoveCmd is `cl host remove`.
type HostRemoveCmd struct {
	Name     string `arg:"" help:"Host to remove."`
	Purge    bool   `help:"Also delete the host's releases, current link and worker state files (kept by default)."`
	Force    bool   `help:"Remove the host from cl.yaml even when it cannot be reached to stop its worker."`
	NoStop   bool   `name:"no-stop" help:"Only unregister: do not connect to the host (its worker keeps running)."`
	NoCommit bool   `name:"no-commit" help:"Do not commit the change to git."`
}

// Run stops and disables the host's worker and unregisters it (see
// removeHost) under the deploy lock, so that it never races a deploy or a
// `cl host add`. With --no-stop it only edits cl.yaml: no host, no Redis,
// no lock.
func (c *HostRemoveCmd) Run(a *App) error {
	msg := fmt.Sprintf("cl: remove host %s", c.Name)
	if c.NoStop {
		return applyHostEdit(a, func(b []byte) ([]byte, error) { return config.RemoveHost(b, c.Name) }, msg, !c.NoCommit,
			fmt.Sprintf("removed host %s", c.Name))
	}
	cfg, err := a.LoadConfig()
	if err != nil {
		return err
	}
	if _, ok := cfg.Hosts.Get(c.Name); !ok {
		return fmt.Errorf("remove host: no host %q in %s (see `cl host list`)", c.Name, a.ConfigPath)
	}
	q, err := openQueue(a, cfg)
	if err != nil {
		return fmt.Errorf("remove host %s: cannot take the deploy lock: %w (cl.yaml and the host unchanged; fix: start Redis or correct redis.url, or --no-stop to only unregister the host without touching it)", c.Name, err)
	}
	defer q.Close()
	return deploy.Locked(a.Ctx, q, deploy.LockInfo{Command: "cl " + strings.Join(os.Args[1:], " ")}, func(ctx context.Context, _ deploy.LockInfo) error {
		parent := a.Ctx
		a.Ctx = ctx
		defer func() { a.Ctx = parent }()
		return removeHost(a, c, msg)
	})
}

// HostUpdateCmd is `cl host update`.
type HostUpdateCmd struct {
	Name string `arg:"" help:"Host to change."`
	Role string `help:"New worker role."`
	hostFlags
	Untag    []string `placeholder:"K" help:"Remove a tag (repeatable)."`
	NoCommit bool     `name:"no-commit" help:"Do not commit the change to git."`
}

// Run updates the host.
func (c *HostUpdateCmd) Run(a *App) error {
	spec, err := c.spec(c.Name, c.Role)
	if err != nil {
		return err
	}
	spec.RemoveTags = c.Untag
	var what []string
	for _, kv := range [][2]string{{"role", c.Role}, {"address", c.Address}, {"user", c.User}, {"ssh-key", c.SSHKey}, {"jump", c.Jump}} {
		if kv[1] != "" {
			what = append(what, kv[0]+" "+kv[1])
		}
	}
	if c.Port != 0 {
		what = append(what, fmt.Sprintf("port %d", c.Port))
	}
	keys := make([]string, 0, len(spec.Tags))
	for k := range spec.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		what = append(what, "tag "+k+"="+spec.Tags[k])
	}
	for _, k := range c.Untag {
		what = append(what, "untag "+k)
	}
	summary := strings.Join(what, ", ")
	msg := fmt.Sprintf("cl: update host %s (%s)", c.Name, summary)
	return applyHostEdit(a, func(b []byte) ([]byte, error) { return config.UpdateHost(b, spec) }, msg, !c.NoCommit,
		fmt.Sprintf("updated host %s: %s", c.Name, summary))
}

func applyHostEdit(a *App, edit func([]byte) ([]byte, error), msg string, commit bool, done string) error {
	var commitFn config.CommitFunc
	if commit {
		commitFn = func(ctx context.Context, path string) (string, string, error) {
			return gitsync.CommitFile(ctx, path, msg)
		}
	}
	res, err := config.ApplyEdit(a.Ctx, a.LoadOptions(), edit, commitFn)
	if err != nil {
		return err
	}
	for _, w := range res.Warnings {
		fmt.Fprintln(a.Stderr, w.String())
	}
	if a.JSON() {
		return a.PrintJSON(map[string]any{"result": done, "path": res.Path, "commit": res.Committed, "not_committed": res.NotCommitted})
	}
	fmt.Fprintf(a.Stdout, "%s in %s\n", done, res.Path)
	switch {
	case res.Committed != "":
		fmt.Fprintf(a.Stdout, "committed %s: %s\n", res.Committed[:12], msg)
	case res.NotCommitted != "" && commit:
		fmt.Fprintf(a.Stdout, "not committed: %s\n", res.NotCommitted)
	}
	return nil
}

// HostListCmd is `cl host list`.
type HostListCmd struct {
	Role string   `help:"Only hosts of this role."`
	Tags []string `placeholder:"K=V" help:"Only hosts with these tags."`
}

// Run lists hosts.
func (c *HostListCmd) Run(a *App) error { return listHosts(a, c.Role, c.Tags) }

func listHosts(a *App, role string, tagFilter []string) error {
	cfg, err := a.LoadConfig()
	if err != nil {
		return err
	}
	hosts := cfg.Hosts.Values()
	if role != "" || len(tagFilter) > 0 {
		tags, err := config.ParseTags(tagFilter)
		if err != nil {
			return err
		}
		if hosts, err = cfg.Select(config.Selector{Role: role, Tags: tags}); err != nil {
			return err
		}
	}
	type row struct {
		*config.Host
		Conn config.Conn `json:"connection"`
	}
	rows := make([]row, len(hosts))
	for i, h := range hosts {
		rows[i] = row{h, cfg.ConnFor(h)}
	}
	if a.JSON() {
		return a.PrintJSON(rows)
	}
	t := newTable(a.Stdout, "NAME", "ROLE", "ADDRESS", "PORT", "USER", "TAGS")
	for _, r := range rows {
		t.row(r.Name, r.Role, r.Conn.Address, r.Conn.Port, r.Conn.User, orDashStr(formatTags(r.Tags)))
	}
	return t.flush()
}

func formatTags(tags map[string]string) string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + tags[k]
	}
	return strings.Join(parts, ",")
}

func orDashStr(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
