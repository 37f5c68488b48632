package hostexec

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
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

// knownHostsMu serialises appends to known_hosts files within this
// process; an flock on the file covers other processes.
var knownHostsMu sync.Mutex

// knownHosts verifies host keys against one known_hosts file. The file is
// re-read on every check, so keys recorded by accept-new (here or by any
// other process) are enforced at once.
type knownHosts struct {
	file   string
	policy HostKeyPolicy
	log    *slog.Logger
}

// load returns the callback for the file's current content; a missing
// file is an empty database.
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

// probeKey is a key no host has: checking it against the database returns
// a KeyError listing every key known for the host.
var probeKey = sync.OnceValue(func() ssh.PublicKey {
	pub, _, _ := ed25519.GenerateKey(nil)
	k, _ := ssh.NewPublicKey(pub)
	return k
})

// algorithms returns the host key algorithms for the key types known_hosts
// holds for addr ("host:port"), most preferred first, so the server is
// asked for a key we can verify; nil (the library default) when none are
// known or when @cert-authority lines make the set unknowable.
func (k *knownHosts) algorithms(addr string) []string {
	data, err := os.ReadFile(k.file)
	if err != nil || bytes.Contains(data, []byte("@cert-authority")) {
		return nil
	}
	cb, err := k.load()
	if err != nil {
		return nil
	}
	var ke *knownhosts.KeyError
	if !errors.As(cb(addr, fakeAddr(addr), probeKey()), &ke) {
		return nil
	}
	var types []string
	for _, w := range ke.Want {
		types = append(types, w.Key.Type())
	}
	return algorithmsFor(types)
}

var algoPreference = []string{
	ssh.KeyAlgoED25519, ssh.KeyAlgoSKED25519,
	ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521, ssh.KeyAlgoSKECDSA256,
	ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA,
}

func algorithmsFor(keyTypes []string) []string {
	want := map[string]bool{}
	for _, t := range keyTypes {
		if t == ssh.KeyAlgoRSA {
			want[ssh.KeyAlgoRSASHA512], want[ssh.KeyAlgoRSASHA256] = true, true
		}
		want[t] = true
	}
	var out []string
	for _, a := range algoPreference {
		if want[a] {
			out = append(out, a)
			delete(want, a)
		}
	}
	rest := make([]string, 0, len(want))
	for a := range want {
		rest = append(rest, a)
	}
	slices.Sort(rest)
	return append(out, rest...)
}

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

// record appends addr's key to known_hosts (policy accept-new). It holds
// the process-wide mutex and an flock on the file, and re-reads the file
// under both, so concurrent first contacts write a single line and a key
// recorded meanwhile by someone else is enforced.
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
		return nil // recorded meanwhile
	case !errors.As(err, &ke):
		return err
	case len(ke.Want) > 0:
		return k.mismatch(addr, key, ke.Want)
	}

	line := knownhosts.Line([]string{addr}, key) + "\n"
	if !endsWithNewline(f) {
		line = "\n" + line
	}
	if _, err := f.WriteString(line); err != nil {
		return fmt.Errorf("record host key in %s: %w", k.file, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("record host key in %s: %w", k.file, err)
	}
	k.log.Info("recorded new host key (accept-new)", "host", knownhosts.Normalize(addr),
		"type", key.Type(), "fingerprint", ssh.FingerprintSHA256(key), "known_hosts", k.file)
	return nil
}

func endsWithNewline(f *os.File) bool {
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return true
	}
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, st.Size()-1); err != nil && err != io.EOF {
		return true
	}
	return b[0] == '\n'
}

// fakeAddr gives knownhosts a remote address when only probing; it is
// not consulted since the dialled address is passed too.
func fakeAddr(string) net.Addr { return &net.TCPAddr{IP: net.IPv4zero, Port: 22} }
