package signing

import (
	"fmt"

	"github.com/celeroot/celeroot/config"
)

// Report is what a verification accepted: the configuration's signer and,
// when the tip commit is signed, the commit's.
type Report struct {
	Config       *Signer `json:"config"`
	Commit       string  `json:"commit,omitempty"` // the tip commit's SHA ("" outside git)
	CommitSigned bool    `json:"commit_signed"`
	CommitSigner *Signer `json:"commit_signer,omitempty"`
}

// String is the one-line summary cl prints.
func (r *Report) String() string {
	s := "configuration signed by " + r.Config.String()
	switch {
	case r.Commit == "":
	case r.CommitSigned:
		s += fmt.Sprintf("; commit %s signed by %s", short(r.Commit), r.CommitSigner)
	default:
		s += fmt.Sprintf("; commit %s is unsigned (only the configuration signature is required)", short(r.Commit))
	}
	return s
}

// Verify is the check of `cl config verify` and `cl host deploy
// --verify`: cfg's directory on disk against its signature file and, when
// head is given (the tip commit of the work tree), that commit's
// signature if it has one. The first refusal is the error.
func Verify(cfg *config.Config, head *Commit) (*Report, error) {
	f := FilesOf(cfg)
	p, err := f.Policy()
	if err != nil {
		return nil, err
	}
	return p.verify(f, head)
}

func (p *Policy) verify(f Files, head *Commit) (*Report, error) {
	who, err := p.VerifyFile(dirFS(f.Dir), f.Signature, f.rel(), now())
	if err != nil {
		return nil, err
	}
	r := &Report{Config: who}
	if head != nil {
		r.Commit = head.SHA
		if r.CommitSigner, err = p.VerifyCommit(*head); err != nil {
			return nil, err
		}
		r.CommitSigned = r.CommitSigner != nil
	}
	return r, nil
}
