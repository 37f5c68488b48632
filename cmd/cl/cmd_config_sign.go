package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/signing"
	gitsync "github.com/celeroot/celeroot/sync"
)

// ConfigSignCmd is `cl config sign --key FILE`.
type ConfigSignCmd struct {
	Key           string `type:"path" placeholder:"FILE" help:"Private key that signs (OpenSSH: ed25519, ECDSA, RSA; or PEM: RSA, ECDSA; no passphrase)."`
	Principal     string `placeholder:"P" help:"Refuse to sign unless security.allowed_signers allows this key for principal P now."`
	PrintManifest bool   `name:"print-manifest" help:"Print the manifest that would be signed (for ssh-keygen -Y sign) and sign nothing."`
}

// Run signs cl.yaml, tasks/ and environments/ and writes the signature file.
func (c *ConfigSignCmd) Run(a *App) error {
	cfg, err := a.LoadConfig()
	if err != nil {
		return err
	}
	if c.PrintManifest {
		m, err := signing.ConfigManifest(cfg)
		if err != nil {
			return err
		}
		_, err = a.Stdout.Write(m.Bytes())
		return err
	}
	if c.Key == "" {
		return fmt.Errorf("cl config sign: no key: pass --key FILE (a private key listed in security.allowed_signers)")
	}
	path, m, err := signing.SignConfig(cfg, c.Key, c.Principal)
	if err != nil {
		return err
	}
	if a.JSON() {
		return a.PrintJSON(map[string]any{"signature": path, "files": len(m)})
	}
	fmt.Fprintf(a.Stdout, "signed %s (namespace %s) into %s\n", plural(len(m), "file"), signing.ConfigNamespace, path)
	fmt.Fprintln(a.Stdout, "next: commit it with the configuration")
	return nil
}

// ConfigVerifyCmd is `cl config verify`.
type ConfigVerifyCmd struct{}

// Run checks the configuration's signature (and the tip commit's).
func (ConfigVerifyCmd) Run(a *App) error {
	cfg, err := a.LoadConfig()
	if err != nil {
		return err
	}
	rep, err := verifySignatures(a.Ctx, cfg)
	if err != nil {
		return err
	}
	if a.JSON() {
		return a.PrintJSON(rep)
	}
	fmt.Fprintln(a.Stdout, rep.String())
	return nil
}

// verifySignatures checks cfg on disk and, inside a git work tree, the
// signature of HEAD.
func verifySignatures(ctx context.Context, cfg *config.Config) (*signing.Report, error) {
	head, err := headCommit(ctx, cfg.Source.Dir)
	if err != nil {
		return nil, err
	}
	return signing.Verify(cfg, head)
}

// headCommit is HEAD's signature and payload, nil outside git.
func headCommit(ctx context.Context, dir string) (*signing.Commit, error) {
	w, err := gitsync.Open(ctx, filepath.Clean(dir))
	if errors.Is(err, gitsync.ErrNotGit) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	cs, err := w.CommitSignature(ctx, "HEAD")
	if err != nil {
		return nil, err
	}
	return &signing.Commit{SHA: cs.SHA, Signature: cs.Signature, Payload: cs.Payload, Time: cs.Time,
		PGP: func(ring string) (string, string, error) { return w.VerifyPGP(ctx, cs.SHA, ring) }}, nil
}
