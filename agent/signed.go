package agent

import (
	"context"
	"io/fs"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/signing"
	gitsync "github.com/celeroot/celeroot/sync"
)

// SignedPolicy names the agent's own allowed-signers and revoked-keys
// files (on the agent's machine, not in the repository: a repository
// cannot vouch for itself). They are read again for every commit, so a
// signer added or revoked takes effect without a restart.
type SignedPolicy struct {
	AllowedSigners string
	RevokedKeys    string
	PGPKeyRing     string
}

// commitSignatures is the part of sync.Source the check needs.
type commitSignatures interface {
	CommitSignature(ctx context.Context, sha string) (gitsync.CommitSignature, error)
	VerifyPGP(ctx context.Context, sha, armoredKeyRing string) (identity, fingerprint string, err error)
}

// verifier returns the Loader's Verify: the configuration signature in
// the commit's tree (checked now) and the commit's own signature when it
// has one (checked at the commit time). nil policy: no check.
func (p *SignedPolicy) verifier(src commitSignatures) func(context.Context, string, fs.FS, *config.Config) error {
	if p == nil {
		return nil
	}
	return func(ctx context.Context, sha string, fsys fs.FS, cfg *config.Config) error {
		pol, err := signing.LoadPolicy(p.AllowedSigners, p.RevokedKeys, p.PGPKeyRing)
		if err != nil {
			return err
		}
		if _, err := pol.VerifyCommitTree(fsys, cfg, time.Now()); err != nil {
			return err
		}
		cs, err := src.CommitSignature(ctx, sha)
		if err != nil {
			return err
		}
		_, err = pol.VerifyCommit(signing.Commit{SHA: cs.SHA, Signature: cs.Signature, Payload: cs.Payload, Time: cs.Time,
			PGP: func(ring string) (string, string, error) { return src.VerifyPGP(ctx, sha, ring) }})
		return err
	}
}
