package main

import (
	"fmt"
	"strings"

	"github.com/celeroot/celeroot/config"
)

// HostCmd groups the host registry commands.
type HostCmd struct {
	Add        HostAddCmd        `cmd:"" help:"Add a host: SSH test, prerequisites, deploy, health check, then register it in cl.yaml (and commit)."`
	Remove     HostRemoveCmd     `cmd:"" help:"Stop and disable a host's worker and remove the host from cl.yaml (and commit)."`
	Deploy     HostDeployCmd     `cmd:"" help:"Deploy the config repository's commit to hosts: delta sync, restart, health check, rollback."`
	Update     HostUpdateCmd     `cmd:"" help:"Change a host's role, address, SSH settings or tags."`
	List       HostListCmd       `cmd:"" help:"List hosts."`
	Status     HostStatusCmd     `cmd:"" help:"Check reachability, host keys and facts of hosts over SSH (exit 1 when any is down)."`
	Exec       HostExecCmd       `cmd:"" help:"Run a command on hosts over SSH (no worker needed): output per host, a summary, exit 1 when any host did not exit 0."`
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
	summary := strings.Join(spec.Changes(), ", ")
	msg := fmt.Sprintf("cl: update host %s (%s)", c.Name, summary)
	return applyHostEdit(a, func(b []byte) ([]byte, error) { return config.UpdateHost(b, spec) }, msg, !c.NoCommit,
		fmt.Sprintf("updated host %s: %s", c.Name, summary))
}
