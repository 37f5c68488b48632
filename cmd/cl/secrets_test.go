package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/celeroot/celeroot/audit"
	"github.com/celeroot/celeroot/queue/queuetest"
)

// TestSecretsCommands: encrypt from stdin, decrypt (whole and one key),
// edit through $EDITOR, each audited by name; a cl.yaml without the age
// provider is refused with the fix.
func TestSecretsCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("needs redis-server")
	}
	srv := queuetest.StartRedis(t)
	id, _ := age.GenerateX25519Identity()
	path := auditProject(t, srv.URL(), "secrets:\n  provider: age\n  recipients: ["+id.Recipient().String()+"]\n  identity_file: age.key\n")
	dir := filepath.Dir(path)
	os.WriteFile(filepath.Join(dir, "age.key"), []byte(id.String()+"\n"), 0o600)

	var out, errb bytes.Buffer
	code := run([]string{"-c", path, "secrets", "encrypt", "db/prod"}, strings.NewReader("password: pl4nted-pw\nuser: app\n"), &out, &errb)
	if code != 0 || !strings.Contains(out.String(), filepath.Join(dir, "secrets", "db", "prod.age")) {
		t.Fatalf("encrypt: %d %s %s", code, out.String(), errb.String())
	}
	ct, _ := os.ReadFile(filepath.Join(dir, "secrets", "db", "prod.age"))
	if bytes.Contains(ct, []byte("pl4nted")) {
		t.Fatal("ciphertext holds the plaintext")
	}
	if o, e, c := cl(t, "-c", path, "secrets", "decrypt", "db/prod", "--key", "password"); c != 0 || o != "pl4nted-pw\n" {
		t.Errorf("decrypt --key: %d %q %s", c, o, e)
	}
	if o, e, c := cl(t, "-c", path, "secrets", "decrypt", "db/prod"); c != 0 || !strings.HasPrefix(o, "password: pl4nted-pw\n") {
		t.Errorf("decrypt: %d %q %s", c, o, e)
	}
	if _, e, c := cl(t, "-c", path, "secrets", "decrypt", "../etc/passwd"); c != 1 || !strings.Contains(e, "name") {
		t.Errorf("bad name: %d %s", c, e)
	}

	editor := filepath.Join(dir, "ed.sh")
	os.WriteFile(editor, []byte("#!/bin/sh\nsed -i 's/pl4nted-pw/r0tated-pw/' \"$1\"\n"), 0o755)
	t.Setenv("VISUAL", "")
	t.Setenv("EDITOR", editor)
	if o, e, c := cl(t, "-c", path, "secrets", "edit", "db/prod"); c != 0 || !strings.Contains(o, "re-encrypted") {
		t.Fatalf("edit: %d %s %s", c, o, e)
	}
	if o, _, _ := cl(t, "-c", path, "secrets", "decrypt", "db/prod", "--key", "password"); o != "r0tated-pw\n" {
		t.Errorf("after edit: %q", o)
	}

	o, e, c := cl(t, "-c", path, "-o", "json", "audit", "logs")
	var recs []audit.Record
	if c != 0 || json.Unmarshal([]byte(o), &recs) != nil {
		t.Fatalf("audit logs: %d %s %s", c, o, e)
	}
	var actions []string
	for _, r := range recs {
		actions = append(actions, r.Action+" "+strings.Join(r.Targets, ","))
	}
	if got := strings.Join(actions, "; "); got != "secret.encrypt secret:db/prod; secret.edit secret:db/prod" {
		t.Errorf("audit: %s", got)
	}
	if strings.Contains(o, "pl4nted") || strings.Contains(o, "r0tated") {
		t.Error("audit trail holds a value")
	}

	data, _ := os.ReadFile(path)
	os.WriteFile(path, bytes.Replace(data, []byte("provider: age"), []byte("provider: env"), 1), 0o644)
	if _, e, c := cl(t, "-c", path, "secrets", "decrypt", "db/prod"); c != 1 || !strings.Contains(e, "secrets.provider: age") {
		t.Errorf("other provider: %d %s", c, e)
	}
}
