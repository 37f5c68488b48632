package signing

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gitsync "github.com/celeroot/celeroot/sync"
)

// signedCommit makes a repository whose HEAD is signed with key by the
// real git (gpg.format=ssh), committed at date (git's date format).
func signedCommit(t *testing.T, key, date string, sign bool) (*gitsync.WorkTree, string) {
	t.Helper()
	needTool(t, "git")
	dir := t.TempDir()
	env := []string{"GIT_AUTHOR_DATE=" + date, "GIT_COMMITTER_DATE=" + date, "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=Ops", "GIT_AUTHOR_EMAIL=ops@example.com", "GIT_COMMITTER_NAME=Ops", "GIT_COMMITTER_EMAIL=ops@example.com"}
	run(t, dir, nil, env, "git", "init", "-q", "-b", "main")
	write(t, dir, "cl.yaml", "cluster:\n  name: demo\n", 0o644)
	run(t, dir, nil, env, "git", "add", "cl.yaml")
	args := []string{"-c", "gpg.format=ssh", "-c", "user.signingkey=" + key, "commit", "-q", "-m", "signed"}
	if sign {
		args = append(args, "-S")
	}
	run(t, dir, nil, env, "git", args...)
	wt, err := gitsync.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	return wt, dir
}

func commitOf(t *testing.T, wt *gitsync.WorkTree) Commit {
	t.Helper()
	cs, err := wt.CommitSignature(context.Background(), "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	return Commit{SHA: cs.SHA, Signature: cs.Signature, Payload: cs.Payload, Time: cs.Time}
}

// TestSSHSignedCommit: a commit signed by git with an SSH key verifies
// through sync.CommitSignature; the key's validity is judged at the
// commit's time; revocation, namespaces and unknown keys are honoured.
func TestSSHSignedCommit(t *testing.T) {
	keys := t.TempDir()
	key, pub := keygen(t, keys, "k", "ed25519")
	_, other := keygen(t, keys, "other", "ed25519")
	wt, dir := signedCommit(t, key, "2020-06-01T12:00:00Z", true)
	c := commitOf(t, wt)
	if !strings.HasPrefix(c.Signature, "-----BEGIN SSH SIGNATURE-----") || strings.Contains(string(c.Payload), "gpgsig") {
		t.Fatalf("signature %q, payload %q", c.Signature, c.Payload)
	}
	// git itself agrees that the commit is good with the same allowed signers.
	allowed := filepath.Join(keys, "allowed")
	if err := os.WriteFile(allowed, []byte("ops@example.com "+pub+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, dir, nil, []string{"GIT_CONFIG_GLOBAL=/dev/null"}, "git", "-c", "gpg.ssh.allowedSignersFile="+allowed, "verify-commit", "HEAD")

	for _, tc := range []struct {
		name, allowed string
		revoked       bool
		want          error
	}{
		{"allowed", "ops@example.com " + pub, false, nil},
		{"valid at the commit time, expired now", `ops@example.com valid-before="20210101" ` + pub, false, nil},
		{"not yet valid at the commit time", `ops@example.com valid-after="20210101" ` + pub, false, ErrExpired},
		{"namespace cl-config only", `ops@example.com namespaces="cl-config" ` + pub, false, ErrNotAllowed},
		{"unknown key", "ops@example.com " + other, false, ErrNotAllowed},
		{"revoked", "ops@example.com " + pub, true, ErrRevoked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := policy(t, tc.allowed)
			if tc.revoked {
				p.Revoked, _ = ParseRevoked([]byte(pub))
			}
			who, err := p.VerifyCommit(c)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if err == nil && (who == nil || who.Namespace != GitNamespace) {
				t.Fatalf("signer %+v", who)
			}
			if err != nil && !strings.Contains(err.Error(), "commit "+c.SHA[:12]) {
				t.Fatalf("the error does not name the commit: %v", err)
			}
		})
	}

	t.Run("tampered payload", func(t *testing.T) {
		bad := c
		bad.Payload = []byte(strings.Replace(string(c.Payload), "signed", "evil", 1))
		if _, err := policy(t, "ops@example.com "+pub).VerifyCommit(bad); !errors.Is(err, ErrTampered) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("unsigned", func(t *testing.T) {
		wt, _ := signedCommit(t, key, "2020-06-01T12:00:00Z", false)
		who, err := policy(t, "ops@example.com "+pub).VerifyCommit(commitOf(t, wt))
		if who != nil || err != nil {
			t.Fatalf("an unsigned commit: %v, %v", who, err)
		}
	})
	t.Run("pgp", func(t *testing.T) {
		pgp := Commit{SHA: c.SHA, Signature: "-----BEGIN PGP SIGNATURE-----\n\nabc\n-----END PGP SIGNATURE-----\n", Payload: c.Payload}
		if _, err := policy(t, "ops@example.com "+pub).VerifyCommit(pgp); !errors.Is(err, ErrPGP) || !strings.Contains(err.Error(), "PGP signatures are not verified") {
			t.Fatalf("got %v", err)
		}
	})
}

// TestPGPSignedCommit: a commit signed by the real gpg verifies against
// the exported public key through sync.VerifyPGP (go-git); another key
// ring refuses it, and without a key ring it is refused as not verified.
func TestPGPSignedCommit(t *testing.T) {
	needTool(t, "gpg")
	needTool(t, "git")
	home := t.TempDir()
	gpgEnv := []string{"GNUPGHOME=" + home}
	t.Cleanup(func() { runErr(home, nil, gpgEnv, "gpgconf", "--kill", "all") }) // the gpg-agent gpg started
	run(t, home, nil, gpgEnv, "gpg", "--batch", "--passphrase", "", "--quick-gen-key", "Ops <ops@example.com>", "ed25519", "sign", "never")
	run(t, home, nil, gpgEnv, "gpg", "--batch", "--passphrase", "", "--quick-gen-key", "Other <other@example.com>", "ed25519", "sign", "never")
	ring := run(t, home, nil, gpgEnv, "gpg", "--armor", "--export", "ops@example.com")
	otherRing := run(t, home, nil, gpgEnv, "gpg", "--armor", "--export", "other@example.com")

	dir := t.TempDir()
	env := append(gpgEnv, "GIT_CONFIG_GLOBAL=/dev/null", "GIT_AUTHOR_NAME=Ops", "GIT_AUTHOR_EMAIL=ops@example.com", "GIT_COMMITTER_NAME=Ops", "GIT_COMMITTER_EMAIL=ops@example.com")
	run(t, dir, nil, env, "git", "init", "-q", "-b", "main")
	write(t, dir, "cl.yaml", "cluster:\n  name: demo\n", 0o644)
	run(t, dir, nil, env, "git", "add", "-A")
	run(t, dir, nil, env, "git", "-c", "user.signingkey=ops@example.com", "commit", "-q", "-S", "-m", "pgp")
	wt, err := gitsync.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	c := commitOf(t, wt)
	c.PGP = func(r string) (string, string, error) { return wt.VerifyPGP(context.Background(), c.SHA, r) }
	if !strings.HasPrefix(c.Signature, "-----BEGIN PGP SIGNATURE-----") {
		t.Fatalf("not PGP-signed: %q", c.Signature)
	}
	p := &Policy{PGPKeyRing: ring}
	who, err := p.VerifyCommit(c)
	if err != nil || who.Principals[0] != "Ops <ops@example.com>" || who.KeyType != "pgp" {
		t.Fatalf("verify: %v %+v", err, who)
	}
	if _, err := (&Policy{PGPKeyRing: otherRing}).VerifyCommit(c); !errors.Is(err, ErrNotAllowed) || !strings.Contains(err.Error(), "does not verify against the PGP key ring") {
		t.Fatalf("another key ring: %v", err)
	}
	if _, err := (&Policy{}).VerifyCommit(c); !errors.Is(err, ErrPGP) {
		t.Fatalf("no key ring: %v", err)
	}
}
