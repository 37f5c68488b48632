package hostkeys

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func newKey(t *testing.T) ssh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestAlgorithmsFor(t *testing.T) {
	got := algorithmsFor([]string{"ssh-rsa", "ecdsa-sha2-nistp256", "ssh-ed25519"})
	want := []string{"ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// Concurrent first contacts write one line; the key is then known, its
// algorithm asked for; another key for the host is a KeyError with Want.
func TestAppend(t *testing.T) {
	file := filepath.Join(t.TempDir(), "ssh", "known_hosts")
	const addr = "[127.0.0.1]:2222"
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2222}
	key := newKey(t)
	if cb, err := Load(file); err != nil || cb(addr, remote, key) == nil {
		t.Fatalf("missing file: %v", err)
	}
	if a := Algorithms(file, addr); a != nil {
		t.Errorf("algorithms of an unknown host: %v", a)
	}
	var wg sync.WaitGroup
	wrote := make([]bool, 8)
	for i := range wrote {
		wg.Go(func() {
			var err error
			if wrote[i], err = Append(file, addr, remote, key); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "\n"); n != 1 || slices.Index(wrote, true) < 0 || len(slices.DeleteFunc(slices.Clone(wrote), func(b bool) bool { return !b })) != 1 {
		t.Fatalf("%d lines, wrote %v:\n%s", n, wrote, data)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	cb, err := Load(file)
	if err != nil || cb(addr, remote, key) != nil {
		t.Fatalf("recorded key not accepted: %v", err)
	}
	if a := Algorithms(file, addr); !slices.Equal(a, []string{ssh.KeyAlgoED25519}) {
		t.Errorf("algorithms %v", a)
	}
	_, err = Append(file, addr, remote, newKey(t))
	var ke *knownhosts.KeyError
	if !errors.As(err, &ke) || len(ke.Want) != 1 {
		t.Errorf("another key: %v", err)
	}
}

// A file rewritten in place with another key of the same length (same
// size) is enforced at the next check: the parse is kept only for the same
// content.
func TestLoadSeesEveryChange(t *testing.T) {
	file := filepath.Join(t.TempDir(), "known_hosts")
	const addr = "10.0.0.9:22"
	remote := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 9), Port: 22}
	a, b := newKey(t), newKey(t)
	for _, k := range []struct{ trusted, other ssh.PublicKey }{{a, b}, {b, a}, {a, b}} {
		if err := os.WriteFile(file, []byte(knownhosts.Line([]string{addr}, k.trusted)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		for range 2 { // the second check uses the kept parse
			cb, err := Load(file)
			if err != nil {
				t.Fatal(err)
			}
			if err := cb(addr, remote, k.trusted); err != nil {
				t.Errorf("the key in the file refused: %v", err)
			}
			if err := cb(addr, remote, k.other); err == nil {
				t.Error("the key no longer in the file accepted")
			}
		}
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if cb, err := Load(file); err != nil || cb(addr, remote, a) == nil {
		t.Errorf("removed file: a key still accepted (%v)", err)
	}
}

// BenchmarkLoad500 checks a host against a known_hosts of 500 hosts (two
// keys each), as every connection of a 500-host fleet does.
func BenchmarkLoad500(b *testing.B) {
	file := filepath.Join(b.TempDir(), "known_hosts")
	var sb strings.Builder
	for i := range 500 {
		pub, _, _ := ed25519.GenerateKey(nil)
		k, _ := ssh.NewPublicKey(pub)
		addr := fmt.Sprintf("10.0.%d.%d", i/250, 1+i%250)
		sb.WriteString(knownhosts.Line([]string{addr}, k) + "\n" + knownhosts.Line([]string{addr}, k) + "\n")
	}
	if err := os.WriteFile(file, []byte(sb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	remote := &net.TCPAddr{IP: net.IPv4(10, 0, 1, 5), Port: 22}
	for b.Loop() {
		cb, err := Load(file)
		if err != nil {
			b.Fatal(err)
		}
		_ = cb("10.0.1.5:22", remote, probeKey())
		_ = Algorithms(file, "10.0.1.5:22")
	}
}
