package hostexec

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/celeroot/celeroot/hostkeys"
)

// HostKeyPolicy says what to do with a host whose key known_hosts does not
// hold. A key that differs from a recorded one is refused under every policy.
type HostKeyPolicy string

const (
	// Strict refuses unknown hosts (the default).
	Strict HostKeyPolicy = "strict"
	// AcceptNew records an unknown host's key in known_hosts on first
	// contact (trust on first use) and enforces it from then on.
	AcceptNew HostKeyPolicy = "accept-new"
)

// knownHosts verifies host keys against one known_hosts file. The file is
// re-read on every check, so keys recorded by accept-new (here or by any
// other process) are enforced at once.
type knownHosts struct {
	file   string
	policy HostKeyPolicy
	log    *slog.Logger
}

// load returns the check of the file's current content.
func (k *knownHosts) load() (ssh.HostKeyCallback, error) { return hostkeys.Load(k.file) }

// algorithms returns the host key algorithms to ask addr's server for
// (hostkeys.Algorithms).
func (k *knownHosts) algorithms(addr string) []string { return hostkeys.Algorithms(k.file, addr) }

// callback verifies the key a server offers for addr ("host:port").
func (k *knownHosts) callback() ssh.HostKeyCallback {
	return func(addr string, remote net.Addr, key ssh.PublicKey) error {
		cb, err := k.load()
		if err != nil {
			return err
		}
		err = cb(addr, remote, key)
		if err == nil {
			return nil
		}
		var ke *knownhosts.KeyError
		var re *knownhosts.RevokedError
		switch {
		case errors.As(err, &re):
			return k.keyError(addr, HostKeyMismatch, key, fmt.Sprintf("the key is marked @revoked in %s", k.file))
		case !errors.As(err, &ke):
			return err
		case len(ke.Want) > 0:
			return k.mismatch(addr, key, ke.Want)
		case k.policy == AcceptNew:
			return k.record(addr, remote, key)
		}
		return k.keyError(addr, HostKeyUnknown, key, k.trustHint(addr, key))
	}
}

func (k *knownHosts) keyError(addr string, kind HostKeyErrorKind, key ssh.PublicKey, hint string) error {
	return &HostKeyError{Host: knownhosts.Normalize(addr), Kind: kind, KeyType: key.Type(), Fingerprint: ssh.FingerprintSHA256(key), Hint: hint}
}

func (k *knownHosts) mismatch(addr string, key ssh.PublicKey, want []knownhosts.KnownKey) error {
	var known []string
	for _, w := range want {
		known = append(known, fmt.Sprintf("%s %s (%s:%d)", w.Key.Type(), ssh.FingerprintSHA256(w.Key), w.Filename, w.Line))
	}
	hint := fmt.Sprintf("known_hosts has %s; if the host was reinstalled, verify the new key and remove the old entry with: ssh-keygen -R '%s' -f %s",
		strings.Join(known, ", "), knownhosts.Normalize(addr), k.file)
	return k.keyError(addr, HostKeyMismatch, key, hint)
}

func (k *knownHosts) trustHint(addr string, key ssh.PublicKey) string {
	host, port, _ := net.SplitHostPort(addr)
	return fmt.Sprintf("verify the fingerprint, then trust it with: ssh-keyscan -p %s -t %s %s >> %s (or set ssh.host_key_policy: accept-new)",
		port, keyscanType(key.Type()), host, k.file)
}

// keyscanType maps a key type onto the name ssh-keyscan -t takes.
func keyscanType(t string) string {
	switch {
	case strings.Contains(t, "ed25519"):
		return "ed25519"
	case strings.Contains(t, "ecdsa"):
		return "ecdsa"
	case strings.Contains(t, "rsa"):
		return "rsa"
	}
	return t
}

// record appends addr's key to known_hosts (policy accept-new) with
// hostkeys.Append, which re-reads the file under its locks, so concurrent
// first contacts write a single line and a key recorded meanwhile by
// someone else is enforced.
func (k *knownHosts) record(addr string, remote net.Addr, key ssh.PublicKey) error {
	wrote, err := hostkeys.Append(k.file, addr, remote, key)
	var ke *knownhosts.KeyError
	if errors.As(err, &ke) && len(ke.Want) > 0 {
		return k.mismatch(addr, key, ke.Want)
	}
	if err != nil || !wrote {
		return err
	}
	k.log.Info("recorded new host key (accept-new)", "host", knownhosts.Normalize(addr),
		"type", key.Type(), "fingerprint", ssh.FingerprintSHA256(key), "known_hosts", k.file)
	return nil
}
