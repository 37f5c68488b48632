package signing

import (
	"bytes"
	"strings"
	"time"
)

// Commit is a git commit's signature (the armored gpgsig header, empty
// when unsigned) and the payload it signs (the commit without it).
type Commit struct {
	SHA       string
	Signature string
	Payload   []byte
	Time      time.Time // committer time
	// PGP verifies a PGP signature against an armored key ring (package
	// sync's VerifyPGP, go-git's Commit.Verify); nil: PGP is not verified.
	PGP func(armoredKeyRing string) (identity, fingerprint string, err error)
}

// VerifyCommit checks an SSH-signed commit in namespace git, the key's
// validity judged at the commit time and revocations honoured whenever
// the commit was made. An unsigned commit returns (nil, nil): the
// configuration signature is what is required. A PGP-signed commit is
// checked against the policy's PGP key ring; without one (or without
// c.PGP) it is refused (ErrPGP).
func (p *Policy) VerifyCommit(c Commit) (*Signer, error) {
	sig := strings.TrimSpace(c.Signature)
	switch {
	case sig == "":
		return nil, nil
	case strings.HasPrefix(sig, "-----BEGIN PGP SIGNATURE-----"):
		return p.verifyPGP(c)
	}
	who, err := p.Check(bytes.NewReader(c.Payload), []byte(sig+"\n"), GitNamespace, c.Time)
	if e, ok := err.(*Error); ok {
		e.Problem = "commit " + short(c.SHA) + ": " + e.Problem
	}
	return who, err
}

func short(sha string) string { return sha[:min(12, len(sha))] }

func (p *Policy) verifyPGP(c Commit) (*Signer, error) {
	if p.PGPKeyRing == "" || c.PGP == nil {
		return nil, refuse(ErrPGP, "set security.pgp_keyring (cl agent: --pgp-keyring) to armored public keys, sign commits with SSH (gpg.format=ssh), or leave them unsigned",
			"commit %s is PGP-signed: PGP signatures are not verified without a PGP key ring", short(c.SHA))
	}
	id, fp, err := c.PGP(p.PGPKeyRing)
	if err != nil {
		return nil, refuse(ErrNotAllowed, "add the signer's public key to the PGP key ring, or sign with a key it holds",
			"commit %s: its PGP signature does not verify against the PGP key ring (%v)", short(c.SHA), err)
	}
	return &Signer{Principals: []string{id}, Fingerprint: fp, KeyType: "pgp", Namespace: GitNamespace}, nil
}
