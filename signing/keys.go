package signing

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/crypto/ssh"
)

// LoadSigner reads an unencrypted private key: OpenSSH format (ed25519,
// ECDSA, RSA) or PEM (RSA, ECDSA). RSA keys sign with rsa-sha2-512.
func LoadSigner(path string) (ssh.Signer, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w: pass a private key file with --key", err)
	}
	s, err := ssh.ParsePrivateKey(raw)
	var pp *ssh.PassphraseMissingError
	if errors.As(err, &pp) {
		return nil, fmt.Errorf("signing key %s is protected by a passphrase: use a copy without one (ssh-keygen -p), or sign with ssh-keygen -Y sign -n cl-config", path)
	}
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w: pass an OpenSSH or PEM private key", path, err)
	}
	if s.PublicKey().Type() == ssh.KeyAlgoRSA {
		as, ok := s.(ssh.AlgorithmSigner)
		if !ok {
			return nil, fmt.Errorf("signing key %s: this RSA key cannot sign with SHA-2", path)
		}
		if s, err = ssh.NewSignerWithAlgorithms(as, []string{ssh.KeyAlgoRSASHA512}); err != nil {
			return nil, fmt.Errorf("signing key %s: %w", path, err)
		}
	}
	return s, nil
}
