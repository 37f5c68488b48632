package hostexec

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func connectWith(t *testing.T, tg Target, o Options) error {
	t.Helper()
	h, err := Dial(context.Background(), tg, o)
	if err == nil {
		h.Close()
	}
	return err
}

func TestHostKeyUnknownStrict(t *testing.T) {
	f := newFixture(t)
	kh := filepath.Join(t.TempDir(), "absent", "known_hosts")
	err := connectWith(t, f.target, Options{KnownHostsFile: kh})
	var hk *HostKeyError
	if !errors.As(err, &hk) || !errors.Is(err, ErrHostKeyUnknown) || Reason(err) != "host key unknown" {
		t.Fatalf("got %v, want an unknown host key error", err)
	}
	key := f.srv.hostKeys[0].PublicKey()
	if hk.KeyType != "ssh-ed25519" || hk.Fingerprint != ssh.FingerprintSHA256(key) {
		t.Errorf("error names %s %s, want the offered key", hk.KeyType, hk.Fingerprint)
	}
	msg := err.Error()
	t.Log(msg)
	for _, want := range []string{
		f.target.Name, fmt.Sprintf("[127.0.0.1]:%d", f.srv.port), ssh.FingerprintSHA256(key),
		fmt.Sprintf("ssh-keyscan -p %d -t ed25519 127.0.0.1 >> %s", f.srv.port, kh), "accept-new",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if _, err := os.Stat(kh); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("strict policy wrote %s", kh)
	}
}

func TestHostKeyMismatchRefusedUnderBothPolicies(t *testing.T) {
	f := newFixture(t)
	other := newSigner(t, "ed25519").PublicKey()
	os.WriteFile(f.knownHosts, []byte(f.srv.knownHostsLine(other)), 0o600)
	for _, policy := range []HostKeyPolicy{Strict, AcceptNew} {
		err := connectWith(t, f.target, Options{KnownHostsFile: f.knownHosts, Policy: policy})
		var hk *HostKeyError
		if !errors.As(err, &hk) || !errors.Is(err, ErrHostKeyMismatch) || hk.Kind != HostKeyMismatch {
			t.Fatalf("%s: got %v, want a mismatch", policy, err)
		}
		t.Log(err)
		if !strings.Contains(err.Error(), ssh.FingerprintSHA256(other)) || !strings.Contains(err.Error(), "ssh-keygen -R") {
			t.Errorf("%s: error should name the recorded key and how to remove it: %v", policy, err)
		}
	}
	if b, _ := os.ReadFile(f.knownHosts); string(b) != f.srv.knownHostsLine(other) {
		t.Errorf("known_hosts changed:\n%s", b)
	}
}

func TestAcceptNewRecordsThenEnforces(t *testing.T) {
	f := newFixture(t)
	kh := filepath.Join(t.TempDir(), "ssh", "known_hosts")
	o := Options{KnownHostsFile: kh, Policy: AcceptNew}
	if err := connectWith(t, f.target, o); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Dir(kh)); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("dir: %v %v, want mode 0700", st.Mode(), err)
	}
	if st, err := os.Stat(kh); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("file: %v %v, want mode 0600", st.Mode(), err)
	}
	b, _ := os.ReadFile(kh)
	if string(b) != f.srv.knownHostsLine() {
		t.Fatalf("known_hosts:\n%s\nwant:\n%s", b, f.srv.knownHostsLine())
	}
	if err := connectWith(t, f.target, Options{KnownHostsFile: kh}); err != nil {
		t.Fatalf("strict connect after accept-new recorded the key: %v", err)
	}
	// Another server (another key) at the same address is refused from now on.
	port := f.srv.port
	f.srv.Close()
	impostor := newTestServer(t, mustPub(t, f.keyFile), onPort(port))
	tg := impostor.target()
	tg.KeyFiles = f.target.KeyFiles
	err := connectWith(t, tg, Options{KnownHostsFile: kh, Policy: AcceptNew, ConnectTimeout: 5e9})
	if !errors.Is(err, ErrHostKeyMismatch) {
		t.Fatalf("impostor: got %v, want a mismatch", err)
	}
	if b2, _ := os.ReadFile(kh); string(b2) != string(b) {
		t.Errorf("known_hosts changed by the impostor:\n%s", b2)
	}
}

func TestAcceptNewConcurrentWritesOneLine(t *testing.T) {
	f := newFixture(t)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	// An existing entry without a final newline must stay intact.
	os.WriteFile(kh, []byte("other.example ssh-ed25519 "+strings.Fields(f.srv.knownHostsLine())[2]), 0o600)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if err := connectWith(t, f.target, Options{KnownHostsFile: kh, Policy: AcceptNew}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	b, _ := os.ReadFile(kh)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || lines[1]+"\n" != f.srv.knownHostsLine() {
		t.Errorf("known_hosts after 20 concurrent first contacts:\n%s", b)
	}
}

// A host known under two key types succeeds whichever of them it offers,
// even when it also has a type known_hosts does not hold.
func TestHostKeyAlgorithmsFromKnownHosts(t *testing.T) {
	ed, ec, rsaKey := newSigner(t, "ed25519"), newSigner(t, "ecdsa"), newSigner(t, "rsa")
	for _, tc := range []struct {
		name   string
		server []ssh.Signer
		known  []ssh.PublicKey
	}{
		{"server offers one of two known types", []ssh.Signer{ec}, []ssh.PublicKey{newSigner(t, "ed25519").PublicKey(), ec.PublicKey()}},
		{"server prefers a type known_hosts lacks", []ssh.Signer{ed, ec}, []ssh.PublicKey{ec.PublicKey(), newSigner(t, "rsa").PublicKey()}},
		{"rsa only", []ssh.Signer{ed, rsaKey}, []ssh.PublicKey{rsaKey.PublicKey()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, withHostKeys(tc.server...))
			os.WriteFile(f.knownHosts, []byte(f.srv.knownHostsLine(tc.known...)), 0o600)
			if err := connectWith(t, f.target, f.options()); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("no known type offered", func(t *testing.T) {
		f := newFixture(t, withHostKeys(ed))
		os.WriteFile(f.knownHosts, []byte(f.srv.knownHostsLine(rsaKey.PublicKey())), 0o600)
		err := connectWith(t, f.target, f.options())
		if !errors.Is(err, ErrHostKeyMismatch) || !strings.Contains(err.Error(), "none of the key types") {
			t.Errorf("got %v, want a mismatch naming the known types", err)
		}
	})
}

func TestHashedKnownHosts(t *testing.T) {
	f := newFixture(t)
	addr := fmt.Sprintf("[127.0.0.1]:%d", f.srv.port)
	line := knownhosts.HashHostname(addr) + " " + strings.SplitN(f.srv.knownHostsLine(), " ", 2)[1]
	os.WriteFile(f.knownHosts, []byte(line), 0o600)
	if err := connectWith(t, f.target, f.options()); err != nil {
		t.Fatal(err)
	}
}
