package sync

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/celeroot/celeroot/hostkeys"
)

// knownHosts checks a git server's host key against one known_hosts file,
// with the same policies as fleet hosts: strict refuses an unknown host,
// accept-new records it on first contact. A changed key is always refused.
type knownHosts struct {
	file      string
	acceptNew bool
}

func newKnownHosts(file, policy string) (*knownHosts, error) {
	if file == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, fmt.Errorf("find known_hosts: %w (pass a known_hosts file)", err)
		}
		file = filepath.Join(home, ".ssh", "known_hosts")
	}
	return &knownHosts{file: file, acceptNew: policy == "accept-new"}, nil
}

// load returns the check of the file's current content.
func (k *knownHosts) load() (ssh.HostKeyCallback, error) { return hostkeys.Load(k.file) }

// algorithms lists the host key algorithms to ask addr's server for, so
// it offers a key that can be checked (hostkeys.Algorithms).
func (k *knownHosts) algorithms(addr string) []string { return hostkeys.Algorithms(k.file, addr) }

func (k *knownHosts) callback() ssh.HostKeyCallback {
	return func(addr string, remote net.Addr, key ssh.PublicKey) error {
		cb, err := k.load()
		if err != nil {
			return err
		}
		err = cb(addr, remote, key)
		var ke *knownhosts.KeyError
		var re *knownhosts.RevokedError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &re):
			return fmt.Errorf("the git server %s offers a key marked @revoked in %s: refusing it", knownhosts.Normalize(addr), k.file)
		case !errors.As(err, &ke):
			return err
		case len(ke.Want) > 0:
			return k.mismatch(addr, key)
		case k.acceptNew:
			return k.record(addr, remote, key)
		}
		host, port, _ := net.SplitHostPort(addr)
		return fmt.Errorf("the git server %s is not in %s (%s key %s): verify it, then trust it with: ssh-keyscan -p %s %s >> %s (or use the accept-new host key policy)",
			knownhosts.Normalize(addr), k.file, key.Type(), ssh.FingerprintSHA256(key), port, host, k.file)
	}
}

func (k *knownHosts) mismatch(addr string, key ssh.PublicKey) error {
	return fmt.Errorf("the git server %s offers %s key %s, not the one in %s: if it was reinstalled, verify the new key and remove the old one with: ssh-keygen -R '%s' -f %s",
		knownhosts.Normalize(addr), key.Type(), ssh.FingerprintSHA256(key), k.file, knownhosts.Normalize(addr), k.file)
}

// record appends addr's key to known_hosts (hostkeys.Append: under the
// same locks as cl's own hostexec, which records fleet hosts in the same
// file); a key recorded meanwhile for addr is a mismatch.
func (k *knownHosts) record(addr string, remote net.Addr, key ssh.PublicKey) error {
	_, err := hostkeys.Append(k.file, addr, remote, key)
	var ke *knownhosts.KeyError
	if errors.As(err, &ke) && len(ke.Want) > 0 {
		return k.mismatch(addr, key)
	}
	return err
}
