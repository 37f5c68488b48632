package signing

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSSHKeygenSignsClVerifies: a manifest signed by the real ssh-keygen
// (namespace cl-config) verifies in cl, for each key type and hash.
func TestSSHKeygenSignsClVerifies(t *testing.T) {
	for _, c := range []struct {
		name string
		typ  string
		gen  []string
		sign []string
	}{
		{"ed25519", "ed25519", nil, nil},
		{"ecdsa", "ecdsa", []string{"-b", "256"}, nil},
		{"rsa-sha512", "rsa", []string{"-b", "2048"}, nil},
		{"rsa-sha256", "rsa", []string{"-b", "2048"}, []string{"-O", "hashalg=sha256"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			keys, dir := t.TempDir(), configDir(t)
			key, pub := keygen(t, keys, "k", c.typ, c.gen...)
			m, err := BuildManifest(os.DirFS(dir))
			if err != nil {
				t.Fatal(err)
			}
			msg := filepath.Join(keys, "manifest")
			if err := os.WriteFile(msg, m.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			args := append([]string{"-Y", "sign", "-n", ConfigNamespace, "-f", key}, c.sign...)
			run(t, keys, nil, nil, "ssh-keygen", append(args, msg)...)
			sig, err := os.ReadFile(msg + ".sig")
			if err != nil {
				t.Fatal(err)
			}
			p := policy(t, "ops@example.com "+pub)
			who, err := p.VerifyTree(os.DirFS(dir), sig, "", time.Now())
			if err != nil {
				t.Fatalf("verify a signature made by ssh-keygen: %v", err)
			}
			if who.Principals[0] != "ops@example.com" || who.Namespace != ConfigNamespace {
				t.Fatalf("signer %+v", who)
			}
		})
	}
}

// TestClSignsSSHKeygenVerifies: cl's signature file is accepted by
// ssh-keygen -Y verify and -Y check-novalidate, with the manifest that
// follows the signature as the message; PEM keys (RSA, ECDSA) sign too.
func TestClSignsSSHKeygenVerifies(t *testing.T) {
	for _, c := range []struct {
		name, typ string
		gen       []string
	}{
		{"ed25519", "ed25519", nil},
		{"rsa-pem", "rsa", []string{"-b", "2048", "-m", "PEM"}},
		{"ecdsa-pem", "ecdsa", []string{"-b", "384", "-m", "PEM"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			keys, dir := t.TempDir(), configDir(t)
			key, pub := keygen(t, keys, "k", c.typ, c.gen...)
			if len(c.gen) > 0 {
				raw, _ := os.ReadFile(key)
				if !strings.HasPrefix(string(raw), "-----BEGIN ") || strings.Contains(string(raw), "OPENSSH") {
					t.Fatalf("ssh-keygen -m PEM wrote no PEM key:\n%s", raw)
				}
			}
			signer, err := LoadSigner(key)
			if err != nil {
				t.Fatal(err)
			}
			data, m, err := SignTree(os.DirFS(dir), signer, "")
			if err != nil {
				t.Fatal(err)
			}
			sigPath := filepath.Join(keys, "cl.yaml.sig")
			if err := os.WriteFile(sigPath, data, 0o644); err != nil {
				t.Fatal(err)
			}
			allowed := filepath.Join(keys, "allowed")
			if err := os.WriteFile(allowed, []byte("ops@example.com "+pub+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			_, embedded := SplitSignatureFile(data)
			if string(embedded) != string(m.Bytes()) {
				t.Fatalf("the file does not carry the signed manifest:\n%s", embedded)
			}
			out := run(t, keys, m.Bytes(), nil, "ssh-keygen", "-Y", "verify", "-f", allowed, "-I", "ops@example.com", "-n", ConfigNamespace, "-s", sigPath)
			if !strings.Contains(out, "Good \"cl-config\" signature for ops@example.com") {
				t.Fatalf("ssh-keygen -Y verify: %s", out)
			}
			run(t, keys, m.Bytes(), nil, "ssh-keygen", "-Y", "check-novalidate", "-n", ConfigNamespace, "-s", sigPath)
			if out, err := runErr(keys, append(m.Bytes(), 'x'), nil, "ssh-keygen", "-Y", "check-novalidate", "-n", ConfigNamespace, "-s", sigPath); err == nil {
				t.Fatalf("ssh-keygen accepted a different message: %s", out)
			}
			if _, err := policy(t, "ops@example.com "+pub).VerifyTree(os.DirFS(dir), data, "", time.Now()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestRefusals: each way a signature is wrong gets its own error, a
// one-line message naming the problem and the fix.
func TestRefusals(t *testing.T) {
	keys, dir := t.TempDir(), configDir(t)
	key, pub := keygen(t, keys, "k", "ed25519")
	_, other := keygen(t, keys, "other", "ed25519")
	m, err := BuildManifest(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	msg := filepath.Join(keys, "manifest")
	if err := os.WriteFile(msg, m.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, keys, nil, nil, "ssh-keygen", "-Y", "sign", "-n", "file", "-f", key, msg)
	wrongNS, _ := os.ReadFile(msg + ".sig")
	os.Remove(msg + ".sig")
	run(t, keys, nil, nil, "ssh-keygen", "-Y", "sign", "-n", ConfigNamespace, "-f", key, msg)
	good, _ := os.ReadFile(msg + ".sig")
	signer, err := LoadSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	withManifest, _, err := SignTree(os.DirFS(dir), signer, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		allowed string
		revoked string
		sig     []byte
		tamper  bool
		want    error
		text    string
	}{
		{"good", "ops " + pub, "", good, false, nil, ""},
		{"wrong namespace", "ops " + pub, "", wrongNS, false, ErrNamespace, `namespace "file", not "cl-config"`},
		{"expired", `ops valid-before="20200101Z" ` + pub, "", good, false, ErrExpired, "not valid at"},
		{"not yet valid", `ops valid-after="29990101" ` + pub, "", good, false, ErrExpired, "not valid at"},
		{"namespace not allowed", `ops namespaces="git" ` + pub, "", good, false, ErrNotAllowed, "may not sign in namespace cl-config"},
		{"unknown key", "ops " + other, "", good, false, ErrNotAllowed, "not in the allowed signers"},
		{"revoked", "ops " + pub, pub, good, false, ErrRevoked, "is revoked"},
		{"tampered, bare signature", "ops " + pub, "", good, true, ErrTampered, "does not match"},
		{"tampered, names the file", "ops " + pub, "", withManifest, true, ErrTampered, "changed tasks/deploy.sh; added tasks/new.yaml"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := dir
			if c.tamper {
				d = t.TempDir()
				run(t, "", nil, nil, "cp", "-a", dir+"/.", d)
				write(t, d, "tasks/deploy.sh", "#!/bin/sh\nrm -rf /\n", 0o755)
				write(t, d, "tasks/new.yaml", "x: 1\n", 0o644)
			}
			p := policy(t, c.allowed)
			if c.revoked != "" {
				if p.Revoked, err = ParseRevoked([]byte("# old laptop\n" + c.revoked + "\n")); err != nil {
					t.Fatal(err)
				}
			}
			_, err := p.VerifyTree(os.DirFS(d), c.sig, "", time.Now())
			if !errors.Is(err, c.want) || (err != nil && !strings.Contains(err.Error(), c.text)) {
				t.Fatalf("got %v, want %v containing %q", err, c.want, c.text)
			}
			if err != nil && strings.Contains(err.Error(), "\n") {
				t.Fatalf("not one line: %q", err)
			}
		})
	}
}

func policy(t *testing.T, allowed string) *Policy {
	t.Helper()
	s, err := ParseAllowedSigners([]byte(allowed + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	return &Policy{Signers: s, Source: "allowed_signers"}
}
