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
}

// VerifyCommit checks an SSH-signed commit in namespace git, the key's
// validity judged at the commit time and revocations honoured whenever
// the commit was made. An unsigned commit returns (nil, nil): the
// configuration signature is what is required. A PGP-signed commit is
// refused (ErrPGP).
func (p *Policy) VerifyCommit(c Commit) (*Signer, error) {
	sig := strings.TrimSpace(c.Signature)
	switch {
	case sig == "":
		return nil, nil
	case strings.HasPrefix(sig, "-----BEGIN PGP SIGNATURE-----"):
		return nil, refuse(ErrPGP, "sign commits with an SSH key (git config gpg.format ssh) or leave them unsigned",
			"commit %s is PGP-signed: PGP signatures are not verified", short(c.SHA))
	}
	who, err := p.Check(bytes.NewReader(c.Payload), []byte(sig+"\n"), GitNamespace, c.Time)
	if e, ok := err.(*Error); ok {
		e.Problem = "commit " + short(c.SHA) + ": " + e.Problem
	}
	return who, err
}

func short(sha string) string { return sha[:min(12, len(sha))] }
