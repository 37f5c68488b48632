package signing

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

// Namespaces of the signatures cl checks.
const (
	ConfigNamespace = "cl-config"
	GitNamespace    = "git"
)

// Sentinel errors, matched with errors.Is on an *Error.
var (
	ErrUnsigned     = errors.New("unsigned")
	ErrTampered     = errors.New("tampered")
	ErrNotAllowed   = errors.New("key not allowed")
	ErrExpired      = errors.New("key not valid at the signing time")
	ErrNamespace    = errors.New("wrong namespace")
	ErrRevoked      = errors.New("key revoked")
	ErrPGP          = errors.New("PGP signatures are not verified")
	ErrBadSignature = errors.New("malformed signature")
)

// Error is a refused signature: what is wrong and what to do about it.
type Error struct {
	Kind    error // one of the sentinel errors
	Problem string
	Fix     string
}

func (e *Error) Error() string { return e.Problem + ": " + e.Fix }

// Unwrap returns the sentinel error.
func (e *Error) Unwrap() error { return e.Kind }

func refuse(kind error, fix, format string, args ...any) *Error {
	return &Error{Kind: kind, Problem: fmt.Sprintf(format, args...), Fix: fix}
}

// Policy says whose signatures are accepted.
type Policy struct {
	Signers []AllowedSigner
	Revoked []ssh.PublicKey
	// Source names the allowed-signers file in messages.
	Source string
	// PGPKeyRing is armored PGP public keys that may sign commits ("":
	// PGP-signed commits are refused).
	PGPKeyRing string
}

// Signer is who made an accepted signature.
type Signer struct {
	Principals  []string `json:"principals"`
	Fingerprint string   `json:"fingerprint"`
	KeyType     string   `json:"key_type"`
	Namespace   string   `json:"namespace"`
	Line        int      `json:"line"` // of the allowed-signers file
}

func (s Signer) String() string {
	return fmt.Sprintf("%s (%s key %s)", strings.Join(s.Principals, ","), s.KeyType, s.Fingerprint)
}

// Check verifies an armored SSHSIG signature over message in namespace ns,
// with the signer's validity judged at time at.
func (p *Policy) Check(message io.Reader, armored []byte, ns string, at time.Time) (*Signer, error) {
	sig, err := sshsig.Unarmor(armored)
	if err != nil {
		return nil, refuse(ErrBadSignature, "sign again (cl config sign, or ssh-keygen -Y sign)", "the signature does not parse (%v)", err)
	}
	if sig.Namespace != ns {
		return nil, refuse(ErrNamespace, fmt.Sprintf("sign with namespace %s (ssh-keygen -Y sign -n %s)", ns, ns),
			"the signature is for namespace %q, not %q", sig.Namespace, ns)
	}
	key := sig.PublicKey
	fp := ssh.FingerprintSHA256(key)
	for _, r := range p.Revoked {
		if bytes.Equal(r.Marshal(), key.Marshal()) {
			return nil, refuse(ErrRevoked, "sign with a key that is not revoked", "key %s is revoked", fp)
		}
	}
	var listed, inNS []AllowedSigner
	for _, s := range p.Signers {
		if bytes.Equal(s.Key.Marshal(), key.Marshal()) {
			listed = append(listed, s)
			if s.AllowsNamespace(ns) {
				inNS = append(inNS, s)
			}
		}
	}
	switch {
	case len(listed) == 0:
		return nil, refuse(ErrNotAllowed, fmt.Sprintf("add it to %s, or sign with an allowed key", p.source()),
			"key %s is not in the allowed signers", fp)
	case len(inNS) == 0:
		return nil, refuse(ErrNotAllowed, fmt.Sprintf("add %s to its namespaces= in %s (line %d)", ns, p.source(), listed[0].Line),
			"key %s may not sign in namespace %s", fp, ns)
	}
	var valid *AllowedSigner
	for i := range inNS {
		if inNS[i].ValidAt(at) {
			valid = &inNS[i]
			break
		}
	}
	if valid == nil {
		return nil, refuse(ErrExpired, fmt.Sprintf("sign again with a current key, or extend its validity in %s (line %d)", p.source(), inNS[0].Line),
			"key %s is not valid at %s (%s)", fp, at.UTC().Format(time.RFC3339), validity(inNS[0]))
	}
	if err := sshsig.Verify(message, sig, key, sig.HashAlgorithm, ns); err != nil {
		return nil, refuse(ErrTampered, "sign again after reviewing the changes", "the signature by %s does not match the signed data", fp)
	}
	return &Signer{Principals: valid.Principals, Fingerprint: fp, KeyType: key.Type(), Namespace: ns, Line: valid.Line}, nil
}

func (p *Policy) source() string {
	if p.Source == "" {
		return "the allowed-signers file"
	}
	return p.Source
}

func validity(s AllowedSigner) string {
	var parts []string
	if !s.ValidAfter.IsZero() {
		parts = append(parts, "valid after "+s.ValidAfter.UTC().Format(time.RFC3339))
	}
	if !s.ValidBefore.IsZero() {
		parts = append(parts, "valid before "+s.ValidBefore.UTC().Format(time.RFC3339))
	}
	return strings.Join(parts, ", ")
}

// ParseRevoked reads a revoked-keys file: public keys in authorized_keys
// format, one a line; blank lines and # comments are skipped.
func ParseRevoked(data []byte) ([]ssh.PublicKey, error) {
	if bytes.HasPrefix(data, []byte("SSHKRL\n")) {
		return nil, errors.New("an OpenSSH binary KRL is not read: list the revoked public keys, one a line")
	}
	var out []ssh.PublicKey
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxAllowedLine)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			return nil, fmt.Errorf("line %d: %w: write one public key a line as in a .pub file", n, err)
		}
		out = append(out, k)
	}
	return out, sc.Err()
}
