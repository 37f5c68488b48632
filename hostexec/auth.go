package hostexec

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// authenticator builds the public-key signers offered to a host. Parsed
// keys are cached by path, so a passphrase is asked for at most once per
// key and process.
type authenticator struct {
	useAgent bool
	sock     string // the agent's socket; $SSH_AUTH_SOCK when empty
	prompt   func(keyFile string) ([]byte, error)
	log      *slog.Logger

	mu   sync.Mutex // guards keys; held while prompting, so prompts never overlap
	keys map[string]*parsedKey
}

type parsedKey struct {
	signer ssh.Signer    // nil when the key is passphrase-protected and not yet decrypted
	pub    ssh.PublicKey // public half when known (for matching against the agent)
	raw    []byte        // encrypted key bytes, kept to decrypt after a prompt
}

// offer is the keys offered to a host, and a description of them for
// errors (file names and counts, never key material).
type offer struct {
	signers []ssh.Signer
	desc    string
}

// signers returns, in order: each configured key file (decrypted, or the
// agent's copy of it when it is passphrase-protected), then the agent's
// other keys. The returned func closes the agent connection; call it after
// the handshake.
func (a *authenticator) signers(keyFiles []string) (offer, func(), error) {
	agentSigners, closeAgent := a.agentSigners()
	var o offer
	var descs []string
	used := map[string]bool{}
	add := func(s ssh.Signer) bool {
		k := string(s.PublicKey().Marshal())
		if used[k] {
			return false
		}
		used[k] = true
		o.signers = append(o.signers, s)
		return true
	}
	for _, f := range keyFiles {
		s, err := a.keyFileSigner(f, agentSigners)
		if err != nil {
			closeAgent()
			return offer{}, func() {}, err
		}
		add(s)
		descs = append(descs, "key "+f)
	}
	n := 0
	for _, s := range agentSigners {
		if add(s) {
			n++
		}
	}
	if n > 0 {
		descs = append(descs, fmt.Sprintf("%d more from ssh-agent", n))
	}
	if len(o.signers) == 0 {
		closeAgent()
		return offer{}, func() {}, fmt.Errorf("%w: no SSH key to offer: configure a key file or load a key into ssh-agent (SSH_AUTH_SOCK)", ErrAuthFailed)
	}
	o.desc = strings.Join(descs, ", ")
	return o, closeAgent, nil
}

func (a *authenticator) agentSigners() ([]ssh.Signer, func()) {
	sock := a.sock
	if sock == "" {
		sock = os.Getenv("SSH_AUTH_SOCK")
	}
	if !a.useAgent || sock == "" {
		return nil, func() {}
	}
	conn, err := net.DialTimeout("unix", sock, 2*time.Second)
	if err != nil {
		a.log.Warn("ssh-agent not reachable; using key files only", "SSH_AUTH_SOCK", sock, "err", err)
		return nil, func() {}
	}
	signers, err := agent.NewClient(conn).Signers()
	if err != nil {
		conn.Close()
		a.log.Warn("ssh-agent did not list its keys; using key files only", "SSH_AUTH_SOCK", sock, "err", err)
		return nil, func() {}
	}
	return signers, func() { conn.Close() }
}

func (a *authenticator) keyFileSigner(file string, agentSigners []ssh.Signer) (ssh.Signer, error) {
	path, err := expandHome(file)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", file, err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.keys == nil {
		a.keys = map[string]*parsedKey{}
	}
	pk := a.keys[path]
	if pk == nil {
		if pk, err = parseKeyFile(path); err != nil {
			return nil, err
		}
		a.keys[path] = pk
	}
	if pk.signer != nil {
		return pk.signer, nil
	}
	// Passphrase-protected: the agent's copy, else a prompt, else an error.
	if pk.pub != nil {
		for _, s := range agentSigners {
			if bytes.Equal(s.PublicKey().Marshal(), pk.pub.Marshal()) {
				return s, nil
			}
		}
	}
	if a.prompt == nil {
		return nil, fmt.Errorf("%w: key %s is passphrase-protected: add it to ssh-agent (ssh-add %s) or run on a terminal", ErrAuthFailed, path, path)
	}
	pass, err := a.prompt(path)
	if err != nil {
		return nil, fmt.Errorf("key %s: read passphrase: %w", path, err)
	}
	signer, err := ssh.ParsePrivateKeyWithPassphrase(pk.raw, pass)
	clear(pass)
	if err != nil {
		// The library's messages never include the passphrase; say it plainly.
		return nil, fmt.Errorf("%w: key %s: cannot decrypt it with that passphrase", ErrAuthFailed, path)
	}
	pk.signer, pk.raw = signer, nil
	return signer, nil
}

func parseKeyFile(path string) (*parsedKey, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("key file %s does not exist: point ssh.default_key (or the host's ssh.key) at an existing key, or create it (ssh-keygen -t ed25519 -f %s)", path, path)
	}
	if err != nil {
		return nil, fmt.Errorf("read key file %s: %w", path, err)
	}
	signer, err := ssh.ParsePrivateKey(raw)
	var missing *ssh.PassphraseMissingError
	switch {
	case err == nil:
		clear(raw)
		return &parsedKey{signer: signer, pub: signer.PublicKey()}, nil
	case errors.As(err, &missing):
		return &parsedKey{pub: missing.PublicKey, raw: raw}, nil
	}
	clear(raw)
	// Parse errors describe the format, never the key material.
	return nil, fmt.Errorf("key file %s is not a usable private key: %v", path, err)
}

// expandHome expands a leading ~ or ~/ to the home directory.
func expandHome(p string) (string, error) {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, strings.TrimPrefix(p, "~")), nil
}
