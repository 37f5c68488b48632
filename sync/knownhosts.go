package sync

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	stdsync "sync"
	"syscall"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// knownHostsMu serialises appends to known_hosts files in this process; an
// flock on the file covers other processes (cl's own hostexec records
// fleet hosts in the same file).
var knownHostsMu stdsync.Mutex

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

// load returns the callback for the file's current content; a missing file
// is an empty database.
func (k *knownHosts) load() (ssh.HostKeyCallback, error) {
	cb, err := knownhosts.New(k.file)
	if errors.Is(err, os.ErrNotExist) {
		return func(string, net.Addr, ssh.PublicKey) error { return &knownhosts.KeyError{} }, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read known_hosts %s: %w", k.file, err)
	}
	return cb, nil
}

// algorithms lists the host key algorithms known_hosts holds keys of for
// addr, so the server offers a key that can be checked; nil (the library's
// default) when none are known.
func (k *knownHosts) algorithms(addr string) []string {
	cb, err := k.load()
	if err != nil {
		return nil
	}
	pub, _, _ := ed25519.GenerateKey(nil)
	probe, _ := ssh.NewPublicKey(pub)
	var ke *knownhosts.KeyError
	if !errors.As(cb(addr, &net.TCPAddr{}, probe), &ke) || len(ke.Want) == 0 {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	add := func(a string) {
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	for _, w := range ke.Want {
		if w.Key.Type() == ssh.KeyAlgoRSA {
			add(ssh.KeyAlgoRSASHA512)
			add(ssh.KeyAlgoRSASHA256)
		}
		add(w.Key.Type())
	}
	return out
}

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

// record appends addr's key to known_hosts under a lock, re-checking the
// file under it so concurrent first contacts write one line.
func (k *knownHosts) record(addr string, remote net.Addr, key ssh.PublicKey) error {
	knownHostsMu.Lock()
	defer knownHostsMu.Unlock()
	if err := os.MkdirAll(filepath.Dir(k.file), 0o700); err != nil {
		return fmt.Errorf("record host key: %w", err)
	}
	f, err := os.OpenFile(k.file, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("record host key: %w", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("record host key: lock %s: %w", k.file, err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	cb, err := k.load()
	if err != nil {
		return err
	}
	var ke *knownhosts.KeyError
	switch err := cb(addr, remote, key); {
	case err == nil:
		return nil
	case !errors.As(err, &ke):
		return err
	case len(ke.Want) > 0:
		return k.mismatch(addr, key)
	}
	line := knownhosts.Line([]string{knownhosts.Normalize(addr)}, key) + "\n"
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		b := make([]byte, 1)
		if _, err := f.ReadAt(b, st.Size()-1); err == nil && b[0] != '\n' {
			line = "\n" + line
		}
	}
	if _, err := f.WriteString(line); err != nil {
		return fmt.Errorf("record host key in %s: %w", k.file, err)
	}
	return f.Sync()
}
