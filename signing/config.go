package signing

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

// DefaultSignatureFile is security.signature_file's default, next to cl.yaml.
const DefaultSignatureFile = "cl.yaml.sig"

const armorEnd = "-----END SSH SIGNATURE-----\n"

// Files are the security paths of a configuration, resolved against
// cl.yaml's directory.
type Files struct {
	Dir            string // cl.yaml's directory
	AllowedSigners string // "" when not set
	Signature      string
	Revoked        string // "" when not set
	PGPKeyRing     string // "" when not set
}

// FilesOf resolves cfg's security section.
func FilesOf(cfg *config.Config) Files {
	dir := cfg.Source.Dir
	f := Files{Dir: dir, Signature: resolve(dir, firstSet(cfg.Security.SignatureFile, DefaultSignatureFile))}
	if cfg.Security.AllowedSigners != "" {
		f.AllowedSigners = resolve(dir, cfg.Security.AllowedSigners)
	}
	if cfg.Security.RevokedKeys != "" {
		f.Revoked = resolve(dir, cfg.Security.RevokedKeys)
	}
	if cfg.Security.PGPKeyRing != "" {
		f.PGPKeyRing = resolve(dir, cfg.Security.PGPKeyRing)
	}
	return f
}

func resolve(dir, p string) string {
	p = config.ExpandHome(p)
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

func firstSet(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// rel is the signature file's slash path inside the config directory ("" when outside).
func (f Files) rel() string {
	r, err := filepath.Rel(f.Dir, f.Signature)
	if err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return ""
	}
	return filepath.ToSlash(r)
}

// LoadPolicy reads the allowed-signers file, the revoked keys and the PGP
// key ring (each but the first optional).
func LoadPolicy(allowedSigners, revoked, pgpKeyRing string) (*Policy, error) {
	if allowedSigners == "" {
		return nil, errors.New("security.allowed_signers is not set: name an OpenSSH allowed-signers file in cl.yaml (see docs/security.md)")
	}
	raw, err := os.ReadFile(allowedSigners)
	if err != nil {
		return nil, fmt.Errorf("allowed signers: %w: create it (principals keytype key, one a line) or fix security.allowed_signers", err)
	}
	signers, err := ParseAllowedSigners(raw)
	if err != nil {
		return nil, fmt.Errorf("allowed signers %s: %w", allowedSigners, err)
	}
	p := &Policy{Signers: signers, Source: allowedSigners}
	if revoked != "" {
		raw, err := os.ReadFile(revoked)
		if err != nil {
			return nil, fmt.Errorf("revoked keys: %w: create it or fix security.revoked_keys", err)
		}
		if p.Revoked, err = ParseRevoked(raw); err != nil {
			return nil, fmt.Errorf("revoked keys %s: %w", revoked, err)
		}
	}
	if pgpKeyRing != "" {
		raw, err := os.ReadFile(pgpKeyRing)
		if err != nil {
			return nil, fmt.Errorf("PGP key ring: %w: export it (gpg --armor --export KEYID) or fix security.pgp_keyring", err)
		}
		p.PGPKeyRing = string(raw)
	}
	return p, nil
}

// Policy loads the policy f names.
func (f Files) Policy() (*Policy, error) {
	return LoadPolicy(f.AllowedSigners, f.Revoked, f.PGPKeyRing)
}

// SignTree signs the manifest of fsys and returns the signature file's
// content: the armored signature, then the manifest. skip is the
// signature file's slash path inside fsys, if it lies there.
func SignTree(fsys fs.FS, signer ssh.Signer, skip string) ([]byte, Manifest, error) {
	m, err := BuildManifest(fsys, skip)
	if err != nil {
		return nil, nil, err
	}
	sig, err := sshsig.Sign(bytes.NewReader(m.Bytes()), signer, sshsig.HashSHA512, ConfigNamespace)
	if err != nil {
		return nil, nil, fmt.Errorf("sign the configuration: %w", err)
	}
	return append(sshsig.Armor(sig), m.Bytes()...), m, nil
}

// SplitSignatureFile separates the armored signature from the manifest
// that follows it (nil when there is none).
func SplitSignatureFile(data []byte) (armored, manifest []byte) {
	i := bytes.Index(data, []byte(armorEnd))
	if i < 0 {
		return data, nil
	}
	return data[:i+len(armorEnd)], data[i+len(armorEnd):]
}

// VerifyTree checks the signature file's content sigFile against the
// manifest of fsys. A mismatch names the files changed since signing.
func (p *Policy) VerifyTree(fsys fs.FS, sigFile []byte, skip string, at time.Time) (*Signer, error) {
	m, err := BuildManifest(fsys, skip)
	if err != nil {
		return nil, err
	}
	armored, signed := SplitSignatureFile(sigFile)
	who, err := p.Check(bytes.NewReader(m.Bytes()), armored, ConfigNamespace, at)
	if err == nil || !errors.Is(err, ErrTampered) || signed == nil {
		return who, err
	}
	old, perr := ParseManifest(signed)
	if perr != nil {
		return nil, err
	}
	if _, serr := p.Check(bytes.NewReader(old.Bytes()), armored, ConfigNamespace, at); serr != nil {
		return nil, err // the manifest in the file is not what was signed: say only that it does not match
	}
	changed, added, removed := m.Diff(old)
	var parts []string
	for _, d := range []struct {
		what  string
		files []string
	}{{"changed", changed}, {"added", added}, {"removed", removed}} {
		if len(d.files) > 0 {
			parts = append(parts, d.what+" "+strings.Join(d.files, ", "))
		}
	}
	return nil, refuse(ErrTampered, "review the change and sign again (cl config sign --key KEY), or restore the signed files",
		"the configuration changed since it was signed: %s", strings.Join(parts, "; "))
}

// SignConfig signs cfg's directory on disk with the key at keyPath and
// writes the signature file atomically. With principal set (and
// security.allowed_signers), a key not allowed for principal in namespace
// cl-config is refused before anything is written.
func SignConfig(cfg *config.Config, keyPath, principal string) (string, Manifest, error) {
	f := FilesOf(cfg)
	signer, err := LoadSigner(keyPath)
	if err != nil {
		return "", nil, err
	}
	if principal != "" {
		if err := f.checkPrincipal(signer.PublicKey(), principal); err != nil {
			return "", nil, err
		}
	}
	data, m, err := SignTree(os.DirFS(f.Dir), signer, f.rel())
	if err != nil {
		return "", nil, err
	}
	return f.Signature, m, writeAtomic(f.Signature, data)
}

// ConfigManifest is the manifest of cfg's directory on disk, as
// SignConfig signs it.
func ConfigManifest(cfg *config.Config) (Manifest, error) {
	f := FilesOf(cfg)
	return BuildManifest(os.DirFS(f.Dir), f.rel())
}

func (f Files) checkPrincipal(key ssh.PublicKey, principal string) error {
	p, err := f.Policy()
	if err != nil {
		return err
	}
	for _, s := range p.Signers {
		if bytes.Equal(s.Key.Marshal(), key.Marshal()) && s.MatchesPrincipal(principal) && s.AllowsNamespace(ConfigNamespace) && s.ValidAt(time.Now()) {
			return nil
		}
	}
	return fmt.Errorf("key %s is not allowed to sign for %s in namespace %s now: add \"%s %s\" to %s, or drop --principal",
		ssh.FingerprintSHA256(key), principal, ConfigNamespace, principal, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key))), f.AllowedSigners)
}

// dirFS and now are the disk and the clock of Verify.
var (
	dirFS = os.DirFS
	now   = time.Now
)

// VerifyFile reads the signature file at path and checks fsys against it.
func (p *Policy) VerifyFile(fsys fs.FS, path, skip string, at time.Time) (*Signer, error) {
	sig, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, refuse(ErrUnsigned, "sign it: cl config sign --key KEY", "the configuration is unsigned (no %s)", path)
	}
	if err != nil {
		return nil, err
	}
	return p.VerifyTree(fsys, sig, skip, at)
}

// VerifyCommitTree checks the configuration in a commit's tree (the
// config directory as an fs.FS; cfg loaded from it): the signature file
// must lie inside the tree.
func (p *Policy) VerifyCommitTree(fsys fs.FS, cfg *config.Config, at time.Time) (*Signer, error) {
	rel := firstSet(cfg.Security.SignatureFile, DefaultSignatureFile)
	if filepath.IsAbs(rel) || !fs.ValidPath(filepath.ToSlash(rel)) {
		return nil, fmt.Errorf("security.signature_file %s is outside the config directory: keep the signature in the repository", rel)
	}
	rel = filepath.ToSlash(rel)
	sig, err := fs.ReadFile(fsys, rel)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, refuse(ErrUnsigned, "sign it (cl config sign --key KEY) and commit "+rel, "the configuration is unsigned (no %s in the commit)", rel)
	}
	if err != nil {
		return nil, err
	}
	return p.VerifyTree(fsys, sig, rel, at)
}

// writeAtomic writes data to path through a temporary file renamed over it.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".cl-sig-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Rename(tmp.Name(), path)
}
