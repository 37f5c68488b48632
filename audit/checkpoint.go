package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

// Namespace is the SSHSIG namespace of checkpoint signatures.
const Namespace = "cl-audit"

// Checkpoint pins the chain at one point: the record seq had hash Hash at
// Time. Its signature (SSHSIG, armored) covers Payload.
type Checkpoint struct {
	Seq       int64     `json:"seq"`
	Hash      string    `json:"hash"`
	Time      time.Time `json:"time"`
	Key       string    `json:"key"` // SHA256 fingerprint of the signing key
	Signature string    `json:"signature"`
}

// Payload is the signed message: the canonical JSON of seq, hash, time and key.
func (c Checkpoint) Payload() []byte {
	c.Signature = ""
	raw, _ := json.Marshal(c) // plain data: cannot fail
	out, _ := canonicalize(raw, "signature")
	return out
}

// checkpoint signs and writes the checkpoint of r (atomically: a temporary
// file renamed over the old one).
func (t *Trail) checkpoint(r Record) error {
	if t.Mirror == "" {
		return errors.New("audit checkpoint: no mirror file to write it next to")
	}
	c := Checkpoint{Seq: r.Seq, Hash: r.Hash, Time: r.Time, Key: ssh.FingerprintSHA256(t.Signer.PublicKey())}
	sig, err := sshsig.Sign(bytes.NewReader(c.Payload()), t.Signer, sshsig.HashSHA512, Namespace)
	if err != nil {
		return fmt.Errorf("sign audit checkpoint %d: %w", r.Seq, err)
	}
	c.Signature = string(sshsig.Armor(sig))
	raw, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	path := CheckpointPath(t.Mirror)
	tmp, err := os.CreateTemp(filepath.Dir(path), ".checkpoint-*")
	if err != nil {
		return fmt.Errorf("audit checkpoint: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(raw, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("audit checkpoint: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("audit checkpoint: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("audit checkpoint: %w", err)
	}
	return nil
}

// readCheckpoint loads the checkpoint at path; nil without an error when
// there is none.
func readCheckpoint(path string) (*Checkpoint, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var c Checkpoint
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("checkpoint %s is not valid JSON: %w", path, err)
	}
	return &c, nil
}

// check verifies c's signature with pub in namespace cl-audit.
func (c *Checkpoint) check(pub ssh.PublicKey) error {
	sig, err := sshsig.Unarmor([]byte(c.Signature))
	if err != nil {
		return fmt.Errorf("its signature does not parse: %w", err)
	}
	if got, want := ssh.FingerprintSHA256(sig.PublicKey), ssh.FingerprintSHA256(pub); got != want {
		return fmt.Errorf("it is signed by %s, not by audit.signing_key (%s)", got, want)
	}
	if err := sshsig.Verify(bytes.NewReader(c.Payload()), sig, pub, sig.HashAlgorithm, Namespace); err != nil {
		return fmt.Errorf("its signature does not verify: %w", err)
	}
	return nil
}

// LoadSigner reads an unencrypted private key (OpenSSH, or PEM: RSA, ECDSA,
// ed25519). RSA keys sign with rsa-sha2-512.
func LoadSigner(path string) (ssh.Signer, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit.signing_key: %w", err)
	}
	s, err := ssh.ParsePrivateKey(raw)
	var pp *ssh.PassphraseMissingError
	if errors.As(err, &pp) {
		return nil, fmt.Errorf("audit.signing_key %s is protected by a passphrase: use a dedicated key without one (0600)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("audit.signing_key %s: %w", path, err)
	}
	if s.PublicKey().Type() == ssh.KeyAlgoRSA {
		as, ok := s.(ssh.AlgorithmSigner)
		if !ok {
			return nil, fmt.Errorf("audit.signing_key %s: this RSA key cannot sign with SHA-2", path)
		}
		if s, err = ssh.NewSignerWithAlgorithms(as, []string{ssh.KeyAlgoRSASHA512}); err != nil {
			return nil, fmt.Errorf("audit.signing_key %s: %w", path, err)
		}
	}
	return s, nil
}

// LoadPublic returns the public half of the key at path: from the private
// key when it is readable, else from path.pub (a machine that only
// verifies needs just the .pub).
func LoadPublic(path string) (ssh.PublicKey, error) {
	if s, err := LoadSigner(path); err == nil {
		return s.PublicKey(), nil
	}
	raw, err := os.ReadFile(path + ".pub")
	if err != nil {
		return nil, fmt.Errorf("audit.signing_key %s: neither the key nor %s.pub can be read: %w", path, path, err)
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(raw)
	if err != nil {
		return nil, fmt.Errorf("audit.signing_key %s.pub: %w", path, err)
	}
	return pub, nil
}
