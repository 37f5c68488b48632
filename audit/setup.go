package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/celeroot/celeroot/config"
)

// ForConfig returns the trail of cfg's cluster and env on store: the
// mirror (audit.file, default the user's state directory), the checkpoint
// key (audit.signing_key) and its period. sign false loads only the public
// key (verify, logs), so a machine that only reads needs just key.pub.
func ForConfig(cfg *config.Config, env string, store Store, sign bool) (*Trail, error) {
	t := &Trail{Store: store, Every: cfg.Audit.CheckpointEvery}
	mirror, err := MirrorPath(cfg, env)
	if err != nil {
		return nil, err
	}
	t.Mirror = mirror
	if k := cfg.Audit.SigningKey; k != "" {
		path := resolve(cfg, k)
		if sign {
			if t.Signer, err = LoadSigner(path); err != nil {
				return nil, err
			}
		} else if t.Public, err = LoadPublic(path); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// MirrorPath is the JSONL mirror of cfg's trail: audit.file, or
// $XDG_STATE_HOME/celeroot/audit/<cluster>-<env>-<redis>.jsonl (~/.local/state/…),
// <redis> being 8 hex digits of the SHA-256 of redis.url without its credentials.
func MirrorPath(cfg *config.Config, env string) (string, error) {
	if cfg.Audit.File != "" {
		return resolve(cfg, cfg.Audit.File), nil
	}
	base := os.Getenv("XDG_STATE_HOME")
	if !filepath.IsAbs(base) {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("audit mirror: no home directory (%v): set audit.file in cl.yaml", err)
		}
		base = filepath.Join(home, ".local", "state")
	}
	if env == "" {
		env = "default"
	}
	// The Redis it goes to is part of the name: two clusters of one name on
	// two Redis servers (a laptop's and production's) keep two chains.
	sum := sha256.Sum256([]byte(config.StripURLCredentials(cfg.Redis.URL)))
	return filepath.Join(base, "celeroot", "audit", cfg.Cluster.Name+"-"+env+"-"+hex.EncodeToString(sum[:4])+".jsonl"), nil
}

// resolve expands ~ and makes p relative to cl.yaml's directory.
func resolve(cfg *config.Config, p string) string {
	p = config.ExpandHome(p)
	if !filepath.IsAbs(p) && cfg.Source.Dir != "" {
		p = filepath.Join(cfg.Source.Dir, p)
	}
	return p
}

// CLIActor is the operator at this machine: the OS user, the machine's
// name and the fingerprint of the SSH key cl logs in with (keyPath:
// ssh.default_key, the private key, whose .pub is read first; empty: the
// first of OpenSSH's default identities that exists).
func CLIActor(keyPath string) Actor {
	a := Actor{Via: "cli"}
	if u, err := user.Current(); err == nil {
		a.User = u.Username
	}
	a.Machine, _ = os.Hostname()
	if keyPath == "" {
		keyPath = defaultIdentity()
	}
	if keyPath != "" {
		a.Key = fingerprint(config.ExpandHome(keyPath))
	}
	return a
}

// defaultIdentity is the first of ~/.ssh/id_ed25519, id_ecdsa, id_rsa that
// exists, or "".
func defaultIdentity() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	for _, n := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
		p := filepath.Join(home, ".ssh", n)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// fingerprint is the SHA256 fingerprint of the key at path, or "".
func fingerprint(path string) string {
	if raw, err := os.ReadFile(path + ".pub"); err == nil {
		if pub, _, _, _, err := ssh.ParseAuthorizedKey(raw); err == nil {
			return ssh.FingerprintSHA256(pub)
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if s, err := ssh.ParsePrivateKey(raw); err == nil {
		return ssh.FingerprintSHA256(s.PublicKey())
	}
	return ""
}

// AgentActor is the agent applying a commit by author and committer,
// triggered by a webhook delivery (or "").
func AgentActor(author, committer, delivery string) Actor {
	a := Actor{Via: "agent", Author: strings.TrimSpace(author), Committer: strings.TrimSpace(committer), Delivery: delivery}
	if u, err := user.Current(); err == nil {
		a.User = u.Username
	}
	a.Machine, _ = os.Hostname()
	return a
}
