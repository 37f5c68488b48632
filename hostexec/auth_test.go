package hostexec

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/ssh/agent"
)

func TestMissingKeyFile(t *testing.T) {
	f := newFixture(t)
	tg := f.target
	tg.KeyFiles = []string{filepath.Join(t.TempDir(), "id_missing")}
	err := connectWith(t, tg, f.options())
	if err == nil || !strings.Contains(err.Error(), tg.KeyFiles[0]) || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("got %v, want an error naming the missing key file", err)
	}
}

func TestWrongKeyIsAuthFailed(t *testing.T) {
	f := newFixture(t)
	tg := f.target
	tg.KeyFiles[0], _ = writeKey(t, t.TempDir(), "id_other", nil)
	err := connectWith(t, tg, f.options())
	if !errors.Is(err, ErrAuthFailed) || Reason(err) != "auth failed" {
		t.Errorf("got %v, want ErrAuthFailed", err)
	}
	t.Log(err)
}

func TestNoCredentials(t *testing.T) {
	f := newFixture(t)
	tg := f.target
	tg.KeyFiles = nil
	t.Setenv("SSH_AUTH_SOCK", "")
	err := connectWith(t, tg, Options{KnownHostsFile: f.knownHosts, Agent: true})
	if !errors.Is(err, ErrAuthFailed) || !strings.Contains(err.Error(), "no SSH key") {
		t.Errorf("got %v", err)
	}
}

const secret = "correct horse battery staple"

// encryptedFixture is a server that trusts a passphrase-protected key.
func encryptedFixture(t *testing.T) (*fixture, any) {
	t.Helper()
	f := newFixture(t)
	priv := newPrivateKey(t, "ed25519")
	path, pub := writeKeyFrom(t, priv, t.TempDir(), "id_protected", []byte(secret))
	f.srv.authorize(pub)
	f.target.KeyFiles = []string{path}
	return f, priv
}

func TestPassphraseProtectedKeyWithoutAgentOrTerminal(t *testing.T) {
	f, _ := encryptedFixture(t)
	t.Setenv("SSH_AUTH_SOCK", "")
	err := connectWith(t, f.target, Options{KnownHostsFile: f.knownHosts, Agent: true})
	key := f.target.KeyFiles[0]
	want := "key " + key + " is passphrase-protected: add it to ssh-agent (ssh-add " + key + ") or run on a terminal"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v\nwant it to contain %q", err, want)
	}
}

func TestPassphrasePrompt(t *testing.T) {
	f, _ := encryptedFixture(t)
	var asked atomic.Int32
	o := f.options()
	o.PassphrasePrompt = func(keyFile string) ([]byte, error) {
		asked.Add(1)
		if keyFile != f.target.KeyFiles[0] {
			t.Errorf("asked for %s", keyFile)
		}
		return []byte(secret), nil
	}
	p, _ := NewPool(o)
	defer p.Close()
	h, err := p.Get(context.Background(), f.target)
	if err != nil {
		t.Fatal(err)
	}
	f.srv.dropConnections() // force a reconnect: the passphrase is not asked again
	if res, err := h.Run(context.Background(), Command{Argv: []string{"true"}}); err != nil || !res.OK() {
		t.Fatalf("%+v %v", res, err)
	}
	if n := asked.Load(); n != 1 {
		t.Errorf("asked %d times, want 1", n)
	}

	o.PassphrasePrompt = func(string) ([]byte, error) { return []byte("wrong " + secret), nil }
	err = connectWith(t, f.target, o)
	if !errors.Is(err, ErrAuthFailed) || strings.Contains(err.Error(), secret) {
		t.Errorf("wrong passphrase: %v", err)
	}
}

func TestAgent(t *testing.T) {
	f, priv := encryptedFixture(t)
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { agent.ServeAgent(keyring, c); c.Close() }()
		}
	}()
	t.Setenv("SSH_AUTH_SOCK", sock)
	o := f.options()
	o.Agent = true
	// The protected key file is taken from the agent: no prompt needed.
	if err := connectWith(t, f.target, o); err != nil {
		t.Fatalf("protected key held by the agent: %v", err)
	}
	// Agent keys alone.
	tg := f.target
	tg.KeyFiles = nil
	if err := connectWith(t, tg, o); err != nil {
		t.Fatalf("agent only: %v", err)
	}
	// Agent disabled: the protected key needs a passphrase again.
	o.Agent = false
	if err := connectWith(t, f.target, o); err == nil || !strings.Contains(err.Error(), "passphrase-protected") {
		t.Errorf("agent off: %v", err)
	}
}
