package secrets

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/celeroot/celeroot/config"
)

// ageConfig is a config in a temporary directory with a fresh age identity
// in a 0600 file and its recipient in cl.yaml.
func ageConfig(t *testing.T) (*config.Config, *age.X25519Identity) {
	t.Helper()
	dir := t.TempDir()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "age.key"), []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Secrets: config.Secrets{Provider: "age", IdentityFile: "age.key", Recipients: []string{id.Recipient().String()}}}
	cfg.Source.Dir = dir
	return cfg, id
}

func TestAgeRoundTrip(t *testing.T) {
	cfg, _ := ageConfig(t)
	path, err := Encrypt(cfg, "db/prod", []byte("user: app\npassword: \"p@ss word\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(cfg.Source.Dir, "secrets", "db", "prod.age"); path != want {
		t.Errorf("path %s, want %s", path, want)
	}
	ct, _ := os.ReadFile(path)
	if strings.Contains(string(ct), "p@ss") || !strings.HasPrefix(string(ct), "age-encryption.org/v1") {
		t.Errorf("ciphertext: %q", ct[:40])
	}
	pt, err := Decrypt(cfg, "db/prod")
	if err != nil || !strings.Contains(string(pt), "p@ss word") {
		t.Fatalf("Decrypt = %q, %v", pt, err)
	}
	p, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	v, err := Lookup(context.Background(), p, Ref{Name: "db/prod", Key: "password"})
	if err != nil || v != "p@ss word" {
		t.Errorf("Lookup = %q, %v", v, err)
	}
	if _, err := Lookup(context.Background(), p, Ref{Name: "db/prod", Key: "nope"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing key: %v", err)
	}
	if _, err := Lookup(context.Background(), p, Ref{Name: "db/other"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing secret: %v", err)
	}

	// Another identity cannot read it, and says so without the text.
	other, _ := age.GenerateX25519Identity()
	os.WriteFile(filepath.Join(cfg.Source.Dir, "age.key"), []byte(other.String()), 0o600)
	if _, err := Decrypt(cfg, "db/prod"); err == nil {
		t.Error("decrypted with the wrong identity")
	}
	// Identity from the environment when no file is named.
	cfg.Secrets.IdentityFile = ""
	t.Setenv(DefaultIdentityEnv, "")
	if _, err := Decrypt(cfg, "db/prod"); err == nil || !strings.Contains(err.Error(), "secrets.identity_file") {
		t.Errorf("no identity: %v", err)
	}
}

func TestAgeRefusesBadNamesAndRecipients(t *testing.T) {
	cfg, _ := ageConfig(t)
	for _, n := range []string{"../x", "/etc/x", "a//b", "a b"} {
		if _, err := Encrypt(cfg, n, []byte("x")); err == nil {
			t.Errorf("Encrypt(%q) accepted", n)
		}
	}
	cfg.Secrets.Recipients = []string{"age1notakey"}
	if _, err := Encrypt(cfg, "x", []byte("x")); err == nil || !strings.Contains(err.Error(), "not an age1") {
		t.Errorf("bad recipient: %v", err)
	}
	cfg.Secrets.Recipients = nil
	if _, err := Encrypt(cfg, "x", []byte("x")); err == nil || !strings.Contains(err.Error(), "secrets.recipients") {
		t.Errorf("no recipient: %v", err)
	}
	// A recipients file with comments.
	id, _ := age.GenerateX25519Identity()
	os.WriteFile(filepath.Join(cfg.Source.Dir, "recipients.txt"), []byte("# ops\n"+id.Recipient().String()+"\n\n"), 0o644)
	cfg.Secrets.RecipientsFile = "recipients.txt"
	if _, err := Encrypt(cfg, "x", []byte("x")); err != nil {
		t.Errorf("recipients file: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(cfg.Source.Dir, "secrets")); len(entries) != 1 {
		t.Errorf("secrets dir: %v (a refused encrypt leaves nothing)", entries)
	}
}

func TestEdit(t *testing.T) {
	cfg, _ := ageConfig(t)
	tmp := t.TempDir()
	if _, err := Encrypt(cfg, "api", []byte("old-token")); err != nil {
		t.Fatal(err)
	}
	// The editor sees the plaintext in a 0600 file and replaces it.
	script := filepath.Join(tmp, "editor.sh")
	os.WriteFile(script, []byte("#!/bin/sh\nstat -c %a \"$1\" > "+tmp+"/mode\ncp \"$1\" "+tmp+"/seen\nprintf new-token > \"$1\"\n"), 0o755)
	path, err := Edit(context.Background(), cfg, "api", EditOptions{Editor: []string{script}, TempDir: tmp})
	if err != nil {
		t.Fatal(err)
	}
	if mode, _ := os.ReadFile(filepath.Join(tmp, "mode")); strings.TrimSpace(string(mode)) != "600" {
		t.Errorf("temp file mode %s", mode)
	}
	if seen, _ := os.ReadFile(filepath.Join(tmp, "seen")); string(seen) != "old-token" {
		t.Errorf("editor saw %q", seen)
	}
	if pt, err := Decrypt(cfg, "api"); err != nil || string(pt) != "new-token" {
		t.Errorf("after edit: %q %v", pt, err)
	}
	assertNoTemp(t, tmp)
	before, _ := os.ReadFile(path)

	// A failing editor: nothing re-encrypted, no temp file left.
	fail := filepath.Join(tmp, "fail.sh")
	os.WriteFile(fail, []byte("#!/bin/sh\nprintf half > \"$1\"\nexit 3\n"), 0o755)
	if _, err := Edit(context.Background(), cfg, "api", EditOptions{Editor: []string{fail}, TempDir: tmp}); err == nil || !strings.Contains(err.Error(), "left as it was") {
		t.Errorf("failing editor: %v", err)
	}
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Error("a failed edit rewrote the file")
	}
	assertNoTemp(t, tmp)

	// Unchanged text: the file is not rewritten.
	if _, err := Edit(context.Background(), cfg, "api", EditOptions{Editor: []string{"true"}, TempDir: tmp}); !errors.Is(err, ErrUnchanged) {
		t.Errorf("unchanged: %v", err)
	}
	assertNoTemp(t, tmp)

	// A new secret starts empty.
	if _, err := Edit(context.Background(), cfg, "fresh", EditOptions{Editor: []string{script}, TempDir: tmp}); err != nil {
		t.Fatal(err)
	}
	if seen, _ := os.ReadFile(filepath.Join(tmp, "seen")); len(seen) != 0 {
		t.Errorf("new secret started as %q", seen)
	}
	// Without recipients nothing is decrypted into a temp file.
	cfg.Secrets.Recipients = nil
	if _, err := Edit(context.Background(), cfg, "api", EditOptions{Editor: []string{script}, TempDir: tmp}); err == nil {
		t.Error("edit without recipients")
	}
	assertNoTemp(t, tmp)
}

func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "cl-secret-*"))
	if len(m) > 0 {
		t.Errorf("temporary plaintext left: %v", m)
	}
}
