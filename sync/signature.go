package sync

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
)

// CommitSignature is a commit's signature as stored in its gpgsig header
// (armored: "-----BEGIN SSH SIGNATURE-----" or a PGP signature; empty when
// the commit is unsigned) and the payload it signs: the commit object
// encoded without that header, as `git verify-commit` checks it.
type CommitSignature struct {
	SHA            string
	Signature      string
	Payload        []byte
	CommitterEmail string
	Time           time.Time // committer time: the key's validity is judged then
}

// CommitSignature returns the signature of commit (a full SHA or any
// revision) and its payload.
func (w *WorkTree) CommitSignature(ctx context.Context, rev string) (CommitSignature, error) {
	sha, err := w.Resolve(ctx, rev)
	if err != nil {
		return CommitSignature{}, err
	}
	return commitSignature(w.repo, sha)
}

// CommitSignature returns the signature of a fetched commit and its payload.
func (s *Source) CommitSignature(ctx context.Context, sha string) (CommitSignature, error) {
	if err := ctx.Err(); err != nil {
		return CommitSignature{}, err
	}
	if err := checkSHA(sha); err != nil {
		return CommitSignature{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return commitSignature(s.repo, sha)
}

func commitSignature(repo *git.Repository, sha string) (CommitSignature, error) {
	c, err := repo.CommitObject(plumbing.NewHash(sha))
	if err != nil {
		return CommitSignature{}, fmt.Errorf("read commit %s: %w", sha[:min(12, len(sha))], err)
	}
	enc := &plumbing.MemoryObject{}
	if err := c.EncodeWithoutSignature(enc); err != nil {
		return CommitSignature{}, fmt.Errorf("encode commit %s without its signature: %w", sha[:12], err)
	}
	payload, err := readObject(enc)
	if err != nil {
		return CommitSignature{}, err
	}
	return CommitSignature{SHA: c.Hash.String(), Signature: c.PGPSignature, Payload: payload,
		CommitterEmail: c.Committer.Email, Time: c.Committer.When}, nil
}

func readObject(o *plumbing.MemoryObject) ([]byte, error) {
	r, err := o.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	buf := make([]byte, o.Size())
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// VerifyPGP checks the PGP signature of commit (any revision) against an
// armored public key ring (go-git's Commit.Verify) and returns the
// signer's identity and primary key fingerprint.
func (w *WorkTree) VerifyPGP(ctx context.Context, rev, armoredKeyRing string) (identity, fingerprint string, err error) {
	sha, err := w.Resolve(ctx, rev)
	if err != nil {
		return "", "", err
	}
	return verifyPGP(w.repo, sha, armoredKeyRing)
}

// VerifyPGP checks the PGP signature of a fetched commit (see
// WorkTree.VerifyPGP).
func (s *Source) VerifyPGP(ctx context.Context, sha, armoredKeyRing string) (identity, fingerprint string, err error) {
	if err := ctx.Err(); err != nil {
		return "", "", err
	}
	if err := checkSHA(sha); err != nil {
		return "", "", err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return verifyPGP(s.repo, sha, armoredKeyRing)
}

func verifyPGP(repo *git.Repository, sha, armoredKeyRing string) (string, string, error) {
	c, err := repo.CommitObject(plumbing.NewHash(sha))
	if err != nil {
		return "", "", fmt.Errorf("read commit %s: %w", sha[:min(12, len(sha))], err)
	}
	e, err := c.Verify(armoredKeyRing)
	if err != nil {
		return "", "", err
	}
	var ids []string
	for name := range e.Identities {
		ids = append(ids, name)
	}
	sort.Strings(ids)
	fp := ""
	if e.PrimaryKey != nil {
		fp = strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint))
	}
	return strings.Join(ids, ","), fp, nil
}
