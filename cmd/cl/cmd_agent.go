package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/celeroot/celeroot/agent"
	"github.com/celeroot/celeroot/dashboard"
	gitsync "github.com/celeroot/celeroot/sync"
	"github.com/celeroot/celeroot/sync/webhook"
)

// AgentCmd is `cl agent`.
type AgentCmd struct {
	Repo              string        `required:"" placeholder:"URL" help:"The config repository: a path, file://, git://, https:// or ssh:// URL (user@host:path too)."`
	Branch            string        `default:"main" help:"The branch to track."`
	Path              string        `placeholder:"DIR" help:"The directory of cl.yaml inside the repository (default: its root)."`
	Interval          time.Duration `default:"60s" help:"Poll period (jittered ±10%)."`
	DriftInterval     string        `name:"drift-interval" placeholder:"D" help:"Check the hosts for drift this often, and repair it when monitoring.self_heal is on (default: monitoring.health_check_interval; 0: only on new commits)."`
	Listen            string        `default:"127.0.0.1:8080" help:"Address of /healthz, /metrics, /api/v1/status, /hooks/* and the dashboard /ui/ (put a TLS proxy in front for remote use)."`
	UI                bool          `name:"ui" default:"true" negatable:"" help:"Serve the read-only dashboard under /ui/ (loopback clients only, unless --ui-token-file)."`
	UITokenFile       string        `name:"ui-token-file" type:"path" placeholder:"FILE" help:"Bearer token of the dashboard for remote clients (or CL_UI_TOKEN)."`
	WebhookSecretFile string        `name:"webhook-secret-file" placeholder:"FILE" help:"Secret of the webhooks (GitHub, GitLab, Gitea, generic); without it (or CL_WEBHOOK_SECRET) no webhook is accepted."`
	AutoApply         bool          `name:"auto-apply" default:"true" negatable:"" help:"Apply plans at once; with --no-auto-apply they wait for cl apply."`
	Prune             bool          `help:"Stop the workers of hosts that leave cl.yaml (off by default)."`
	StateDir          string        `name:"state-dir" placeholder:"DIR" help:"Where the repository is cloned (default: $XDG_STATE_HOME/celeroot/agent or ~/.local/state/celeroot/agent)."`
	TokenFile         string        `name:"token-file" placeholder:"FILE" help:"HTTPS token for the repository (or CL_GIT_TOKEN)."`
	SSHKey            string        `name:"ssh-key" placeholder:"FILE" help:"Private key for an ssh:// repository."`
	KnownHosts        string        `name:"known-hosts" placeholder:"FILE" help:"known_hosts for an ssh:// repository (default ~/.ssh/known_hosts)."`
	AcceptNewHostKey  bool          `name:"accept-new-host-key" help:"Trust an ssh:// repository's host key on first use (recorded in --known-hosts)."`
	ApplyTimeout      time.Duration `name:"apply-timeout" default:"30m" help:"Deadline of one apply."`
	RequireSigned     bool          `name:"require-signed" help:"Apply only commits whose configuration signature (and commit signature, when signed) verify against --allowed-signers."`
	AllowedSigners    string        `name:"allowed-signers" type:"path" placeholder:"FILE" help:"OpenSSH allowed-signers file on this machine, for --require-signed."`
	RevokedKeys       string        `name:"revoked-keys" type:"path" placeholder:"FILE" help:"Revoked public keys (one a line) on this machine, for --require-signed."`
	PGPKeyring        string        `name:"pgp-keyring" type:"path" placeholder:"FILE" help:"Armored PGP public keys on this machine that may sign commits, for --require-signed."`
}

// Run runs the agent until interrupted.
func (c *AgentCmd) Run(a *App) error {
	o := agent.ServeOptions{Env: a.Env, Listen: c.Listen, Prune: c.Prune, Log: a.Log,
		Options: agent.Options{Interval: c.Interval, DriftInterval: -1, AutoApply: c.AutoApply, ApplyTimeout: c.ApplyTimeout}}
	if c.DriftInterval != "" {
		d, err := time.ParseDuration(c.DriftInterval)
		if err != nil || d < 0 {
			return fmt.Errorf("--drift-interval %q: use a duration such as 5m, or 0 for only on new commits", c.DriftInterval)
		}
		o.DriftInterval = d
	}
	o.Source = gitsync.SourceOptions{URL: c.Repo, Branch: c.Branch, Path: c.Path, Dir: c.stateDir(),
		TokenFile: c.TokenFile, SSHKeyFile: c.SSHKey, KnownHostsFile: c.KnownHosts}
	if os.Getenv("CL_GIT_TOKEN") != "" {
		o.Source.TokenEnv = "CL_GIT_TOKEN"
	}
	if c.AcceptNewHostKey {
		o.Source.HostKeyPolicy = "accept-new"
	}
	switch {
	case c.WebhookSecretFile != "":
		s, err := webhook.SecretFromFile(c.WebhookSecretFile)
		if err != nil {
			return err
		}
		o.WebhookSecret = &s
	case os.Getenv("CL_WEBHOOK_SECRET") != "":
		s, err := webhook.SecretFromEnv("CL_WEBHOOK_SECRET")
		if err != nil {
			return err
		}
		o.WebhookSecret = &s
	}
	if c.RequireSigned != (c.AllowedSigners != "") || ((c.RevokedKeys != "" || c.PGPKeyring != "") && !c.RequireSigned) {
		return fmt.Errorf("--require-signed and --allowed-signers FILE go together (--revoked-keys, --pgp-keyring only with them): the agent's allowed signers live on its machine, not in the repository")
	}
	if c.RequireSigned {
		o.RequireSigned = &agent.SignedPolicy{AllowedSigners: c.AllowedSigners, RevokedKeys: c.RevokedKeys, PGPKeyRing: c.PGPKeyring}
	}
	if c.UI {
		tok, err := uiToken(c.UITokenFile)
		if err != nil {
			return err
		}
		o.UI = dashboard.UI(dashboard.Options{Token: tok, Log: a.Log})
	}
	o.Ready = func(addr string) {
		fmt.Fprintf(a.Stderr, "cl agent: tracking %s on %s; http://%s/api/v1/status\n", c.Branch, o.Source.URL, addr)
	}
	return agent.Serve(a.Ctx, o)
}

// stateDir is where the clone lives: one directory per repository and branch.
func (c *AgentCmd) stateDir() string {
	if c.StateDir != "" {
		return c.StateDir
	}
	base := os.Getenv("XDG_STATE_HOME")
	if base == "" {
		home, _ := os.UserHomeDir()
		base = filepath.Join(home, ".local", "state")
	}
	sum := sha256.Sum256([]byte(c.Repo + "\x00" + c.Branch))
	return filepath.Join(base, "celeroot", "agent", hex.EncodeToString(sum[:8]))
}

// uiToken reads the dashboard's token from file, else CL_UI_TOKEN ("" for
// none: loopback clients only).
func uiToken(file string) (string, error) {
	tok, from := os.Getenv("CL_UI_TOKEN"), "CL_UI_TOKEN"
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("--ui-token-file: %w (write the token to that file, or use CL_UI_TOKEN)", err)
		}
		tok, from = strings.TrimSpace(string(b)), "--ui-token-file "+file
	}
	if tok != "" && len(tok) < 16 {
		return "", fmt.Errorf("%s: the dashboard token is shorter than 16 characters: use a long random one (openssl rand -hex 32)", from)
	}
	return tok, nil
}
