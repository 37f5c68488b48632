package hostkeys

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Load returns the check of file's current content; a missing file is an
// empty database (every host unknown: a *knownhosts.KeyError without
// Want).
func Load(file string) (ssh.HostKeyCallback, error) {
	cb, _, err := load(file)
	return cb, err
}

// parsed is the content of a known_hosts file and its check.
type parsed struct {
	data []byte
	cb   ssh.HostKeyCallback
}

// cache holds the last parse of each file. The file is read on every
// load, but parsed again only when its content changed: a fleet's
// connections check it two or three times each, and parsing a known_hosts
// of a few hundred hosts takes milliseconds, so parsing it every time
// grows with the square of the fleet.
var cache struct {
	sync.Mutex
	files map[string]*parsed
}

// unknownAll is the check of an empty database: every host unknown.
func unknownAll(string, net.Addr, ssh.PublicKey) error { return &knownhosts.KeyError{} }

// load returns the check of file's current content and that content
// (nil for a missing file).
func load(file string) (ssh.HostKeyCallback, []byte, error) {
	cache.Lock()
	defer cache.Unlock()
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return unknownAll, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read known_hosts %s: %w", file, err)
	}
	if p := cache.files[file]; p != nil && bytes.Equal(p.data, data) {
		return p.cb, data, nil
	}
	cb, err := knownhosts.New(file)
	if errors.Is(err, os.ErrNotExist) { // removed meanwhile
		return unknownAll, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read known_hosts %s: %w", file, err)
	}
	// Kept only if the file did not change while it was parsed, so that
	// the check kept is the one of the content it is kept with.
	if again, err := os.ReadFile(file); err == nil && bytes.Equal(again, data) {
		if cache.files == nil {
			cache.files = map[string]*parsed{}
		}
		cache.files[file] = &parsed{data: data, cb: cb}
	}
	return cb, data, nil
}

// probeKey is a key no host has: checking it against the database returns
// a KeyError listing every key known for the host.
var probeKey = sync.OnceValue(func() ssh.PublicKey {
	pub, _, _ := ed25519.GenerateKey(nil)
	k, _ := ssh.NewPublicKey(pub)
	return k
})

// Algorithms returns the host key algorithms for the key types file holds
// for addr ("host:port"), most preferred first, so the server is asked for
// a key that can be verified; nil (the library default) when none are
// known or when @cert-authority lines make the set unknowable.
func Algorithms(file, addr string) []string {
	cb, data, err := load(file)
	if err != nil || data == nil || bytes.Contains(data, []byte("@cert-authority")) {
		return nil
	}
	var ke *knownhosts.KeyError
	if !errors.As(cb(addr, &net.TCPAddr{IP: net.IPv4zero, Port: 22}, probeKey()), &ke) {
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

// appendMu serialises appends to known_hosts files within this process;
// an flock on the file covers other processes.
var appendMu sync.Mutex

// Append records addr's key in file (created 0600 in a 0700 directory
// when missing), unless the file holds it by the time the lock is held:
// it takes the process-wide mutex and an flock on the file and re-reads
// the file under both, so concurrent first contacts write a single line.
// It reports whether it wrote the line. Another key recorded meanwhile
// for addr gives the *knownhosts.KeyError listing it (Want), for the
// caller's mismatch message.
func Append(file, addr string, remote net.Addr, key ssh.PublicKey) (bool, error) {
	appendMu.Lock()
	defer appendMu.Unlock()
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return false, fmt.Errorf("record host key: %w", err)
	}
	f, err := os.OpenFile(file, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return false, fmt.Errorf("record host key: %w", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return false, fmt.Errorf("record host key: lock %s: %w", file, err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)

	cb, err := Load(file)
	if err != nil {
		return false, err
	}
	var ke *knownhosts.KeyError
	switch err := cb(addr, remote, key); {
	case err == nil:
		return false, nil // recorded meanwhile
	case !errors.As(err, &ke) || len(ke.Want) > 0:
		return false, err
	}
	line := knownhosts.Line([]string{addr}, key) + "\n"
	if !endsWithNewline(f) {
		line = "\n" + line
	}
	if _, err := f.WriteString(line); err != nil {
		return false, fmt.Errorf("record host key in %s: %w", file, err)
	}
	if err := f.Sync(); err != nil {
		return false, fmt.Errorf("record host key in %s: %w", file, err)
	}
	return true, nil
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
