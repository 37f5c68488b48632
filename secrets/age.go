package secrets

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"
	"filippo.io/age/agessh"

	"github.com/celeroot/celeroot/config"
)

// DefaultIdentityEnv is the environment variable holding the age identity
// when cl.yaml names neither secrets.identity_file nor secrets.identity_env.
const DefaultIdentityEnv = "CL_AGE_IDENTITY"

// DefaultAgeDir is where age-encrypted secrets live in the config
// repository when secrets.path is not set.
const DefaultAgeDir = "secrets"

// AgeExt ends the name of every age-encrypted secret file.
const AgeExt = ".age"

// ageProvider decrypts DIR/NAME.age with the identity.
type ageProvider struct {
	dir      string
	identity credential
}

func (p *ageProvider) Get(_ context.Context, r Ref) (Value, error) {
	if r.Version != "" {
		return Value{}, errors.New("the age provider has no versions (git has them): drop @" + r.Version)
	}
	ids, err := loadIdentities(p.identity)
	if err != nil {
		return Value{}, err
	}
	ct, err := readUnder(p.dir, r.Name+AgeExt)
	if err != nil {
		return Value{}, err
	}
	pt, err := decrypt(ct, ids)
	if err != nil {
		return Value{}, fmt.Errorf("decrypt %s%s: %w", r.Name, AgeExt, err)
	}
	return Value{Text: trimNewline(string(pt)), Structured: true}, nil
}

// AgeDir is the directory of cfg's age-encrypted secrets.
func AgeDir(cfg *config.Config) string {
	return Resolve(cfg, envOr(cfg.Secrets.Path, DefaultAgeDir))
}

// AgeFile is the file of secret name (a reference's NAME) under cfg's age
// directory; name is checked as a reference's name is.
func AgeFile(cfg *config.Config, name string) (string, error) {
	name = strings.TrimSuffix(name, AgeExt)
	if msg := checkName(name); msg != "" {
		return "", fmt.Errorf("secret %s", msg)
	}
	return filepath.Join(AgeDir(cfg), filepath.FromSlash(name)+AgeExt), nil
}

// identityFor is cfg's age identity credential.
func identityFor(cfg *config.Config) credential {
	return credential{file: pathOr(cfg, cfg.Secrets.IdentityFile), env: envOr(cfg.Secrets.IdentityEnv, DefaultIdentityEnv),
		what: "age identity", keys: "secrets.identity_file or secrets.identity_env"}
}

// loadIdentities parses age identities (AGE-SECRET-KEY-1… lines) or one
// unencrypted OpenSSH ed25519/RSA private key.
func loadIdentities(c credential) ([]age.Identity, error) {
	text, err := c.read()
	if err != nil {
		return nil, err
	}
	if strings.Contains(text, "PRIVATE KEY-----") {
		id, err := agessh.ParseIdentity([]byte(text))
		if err != nil {
			return nil, fmt.Errorf("the age identity is an SSH key cl cannot use (%v): use an unencrypted ed25519 or RSA key, or an age identity", err)
		}
		return []age.Identity{id}, nil
	}
	ids, err := age.ParseIdentities(strings.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("parse the age identity: %w", err)
	}
	return ids, nil
}

func decrypt(ct []byte, ids []age.Identity) ([]byte, error) {
	r, err := age.Decrypt(bytes.NewReader(ct), ids...)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// Recipients are cfg's age recipients: secrets.recipients and the lines of
// secrets.recipients_file (age1… keys or ssh-ed25519/ssh-rsa public keys;
// # comments and blank lines skipped).
func Recipients(cfg *config.Config) ([]age.Recipient, error) {
	lines := append([]string(nil), cfg.Secrets.Recipients...)
	if f := cfg.Secrets.RecipientsFile; f != "" {
		b, err := os.ReadFile(Resolve(cfg, f))
		if err != nil {
			return nil, fmt.Errorf("read secrets.recipients_file: %w", err)
		}
		lines = append(lines, strings.Split(string(b), "\n")...)
	}
	var out []age.Recipient
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		r, err := parseRecipient(l)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, errors.New("no age recipients: list public keys in secrets.recipients or secrets.recipients_file (age-keygen -y prints one)")
	}
	return out, nil
}

func parseRecipient(l string) (age.Recipient, error) {
	short := l
	if len(short) > 24 {
		short = short[:24] + "…"
	}
	if strings.HasPrefix(l, "ssh-") {
		r, err := agessh.ParseRecipient(l)
		if err != nil {
			return nil, fmt.Errorf("age recipient %q: %v", short, err)
		}
		return r, nil
	}
	rs, err := age.ParseRecipients(strings.NewReader(l))
	if err != nil || len(rs) != 1 {
		return nil, fmt.Errorf("age recipient %q is not an age1… or ssh- public key", short)
	}
	return rs[0], nil
}

// Encrypt encrypts plaintext to cfg's recipients and writes it to the file
// of secret name atomically (a temporary file renamed over it), 0644: the
// file is ciphertext, meant to be committed.
func Encrypt(cfg *config.Config, name string, plaintext []byte) (string, error) {
	path, err := AgeFile(cfg, name)
	if err != nil {
		return "", err
	}
	rcpts, err := Recipients(cfg)
	if err != nil {
		return "", err
	}
	var ct bytes.Buffer
	w, err := age.Encrypt(&ct, rcpts...)
	if err != nil {
		return "", fmt.Errorf("encrypt %s: %w", name, err)
	}
	if _, err := w.Write(plaintext); err != nil {
		return "", err
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	return path, writeAtomic(path, ct.Bytes(), 0o644)
}

// Decrypt returns the plaintext of secret name, with cfg's identity.
func Decrypt(cfg *config.Config, name string) ([]byte, error) {
	path, err := AgeFile(cfg, name)
	if err != nil {
		return nil, err
	}
	ids, err := loadIdentities(identityFor(cfg))
	if err != nil {
		return nil, err
	}
	ct, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	pt, err := decrypt(ct, ids)
	if err != nil {
		return nil, fmt.Errorf("decrypt %s: %w", path, err)
	}
	return pt, nil
}

// writeAtomic writes data to a temporary file beside path and renames it
// over path.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			_ = os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	return nil
}
