package main

import (
	"path/filepath"

	"github.com/celeroot/celeroot/hostexec"
)

// auditEntry is what a mutating command declares about one invocation: the
// action and its targets (names only: hosts, tasks, run ids — never
// parameter values). skip leaves out a run that changes nothing (--dry-run,
// --check).
type auditEntry struct {
	action  string
	targets []string
	skip    bool
	config  string // the command's own cl.yaml argument, if it has one
}

// audited is implemented by every command that changes cl.yaml, the hosts
// or the cluster; runContext appends one record per run (docs/audit.md).
type audited interface{ auditEntry() auditEntry }

func (c *SecretsEncryptCmd) auditEntry() auditEntry {
	return auditEntry{action: "secret.encrypt", targets: []string{"secret:" + c.Name}}
}
func (c *SecretsEditCmd) auditEntry() auditEntry {
	return auditEntry{action: "secret.edit", targets: []string{"secret:" + c.Name}}
}
func (*ConfigEditCmd) auditEntry() auditEntry { return auditEntry{action: "config.edit"} }
func (c *ConfigSignCmd) auditEntry() auditEntry {
	return auditEntry{action: "config.sign", skip: c.PrintManifest}
}
func (c *HostAddCmd) auditEntry() auditEntry {
	return auditEntry{action: "host.add", targets: []string{"host:" + c.Name}}
}
func (c *HostRemoveCmd) auditEntry() auditEntry {
	return auditEntry{action: "host.remove", targets: []string{"host:" + c.Name}}
}
func (c *HostUpdateCmd) auditEntry() auditEntry {
	return auditEntry{action: "host.update", targets: []string{"host:" + c.Name}}
}
func (c *HostDeployCmd) auditEntry() auditEntry {
	return auditEntry{action: "host.deploy", targets: c.selectFlags.auditTargets(), skip: c.Check}
}
func (c *HostExecCmd) auditEntry() auditEntry {
	// The command is recorded as the remote shell reads it: argv is not a
	// secret (docs/cli.md says not to put one there).
	return auditEntry{action: "host.exec", targets: append(c.selectFlags.auditTargets(), "argv:"+hostexec.QuoteArgs(argvAfterDash(c.Argv)))}
}
func (c *HostRotateKeysCmd) auditEntry() auditEntry {
	return auditEntry{action: "host.rotate-keys", targets: []string{"all"}, skip: c.DryRun}
}
func (c *ApplyCmd) auditEntry() auditEntry {
	e := auditEntry{action: "plan.apply"}
	if c.Abort {
		return auditEntry{action: "plan.abort"}
	}
	if c.File != "" {
		e.targets = []string{"plan:" + filepath.Base(c.File)}
	}
	if c.Cluster != "" {
		e.targets = append(e.targets, "fleet:"+c.Cluster)
	}
	return e
}
func (c *TaskInstallCmd) auditEntry() auditEntry {
	return auditEntry{action: "task.install", targets: append([]string{"package:" + c.Package}, c.auditTargets()...)}
}
func (c *TaskRemoveCmd) auditEntry() auditEntry {
	return auditEntry{action: "task.remove", targets: append([]string{"package:" + c.Package}, c.auditTargets()...)}
}
func (c *TaskRunCmd) auditEntry() auditEntry {
	return auditEntry{action: "task.run", targets: append([]string{"task:" + c.Task}, c.auditTargets()...)}
}
func (c *TaskKillCmd) auditEntry() auditEntry {
	return auditEntry{action: "task.kill", targets: []string{"run:" + c.TaskID}}
}
func (c *BeatStopCmd) auditEntry() auditEntry {
	e := auditEntry{action: "beat.stop", targets: []string{"local"}}
	if c.Leader {
		e.targets = []string{"leader"}
	}
	return e
}
func (c *BeatRestartCmd) auditEntry() auditEntry {
	return auditEntry{action: "beat.restart", config: c.ConfigArg, targets: []string{"local"}}
}
func (c *BeatRestoreCmd) auditEntry() auditEntry {
	return auditEntry{action: "beat.restore-backup", targets: []string{"snapshot:" + filepath.Base(c.File)}}
}

// auditTargets names a host selection: host:H, role:R, tag:K=V or all.
func (f selectFlags) auditTargets() []string {
	var out []string
	for _, h := range f.Target {
		out = append(out, "host:"+h)
	}
	if f.Role != "" {
		out = append(out, "role:"+f.Role)
	}
	for _, t := range f.Tags {
		out = append(out, "tag:"+t)
	}
	if f.All || len(out) == 0 {
		out = append(out, "all")
	}
	return out
}
func (c *ClusterReconcileCmd) auditEntry() auditEntry {
	return auditEntry{action: "cluster.reconcile", targets: []string{"drifted"}, skip: c.DryRun}
}
func (c *ClusterInitCmd) auditEntry() auditEntry {
	name := c.Name
	if name == "" {
		abs, _ := filepath.Abs(c.Dir)
		name = filepath.Base(abs)
	}
	return auditEntry{action: "cluster.init", config: filepath.Join(c.Dir, "cl.yaml"), targets: []string{"cluster:" + name}, skip: c.NoRedisCheck}
}
func (c *ClusterRestoreCmd) auditEntry() auditEntry {
	return auditEntry{action: "cluster.restore", targets: []string{"backup:" + filepath.Base(c.File)}}
}
