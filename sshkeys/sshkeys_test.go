package sshkeys

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/hostexec"
)

// local runs the host scripts on this machine with HOME set to a temp dir.
func local(t *testing.T) (hostexec.Host, string, func(script string, stdin string, args ...string) error) {
	home := t.TempDir()
	hx := &hostexec.Local{Name: "local"}
	run := func(script, stdin string, args ...string) error {
		var out strings.Builder
		c := hostexec.Command{Argv: append([]string{"/bin/sh", "-c", "HOME=$0; shift; " + script, home, "sh"}, args...), Stdout: &out, Stderr: &out}
		if stdin != "" {
			c.Stdin = strings.NewReader(stdin)
		}
		res, err := hx.Run(context.Background(), c)
		if err == nil && !res.OK() {
			t.Logf("output: %s", out.String())
			return os.ErrPermission
		}
		return err
	}
	return hx, home, run
}

func TestAuthorizedKeysEdits(t *testing.T) {
	_, home, run := local(t)
	k1, _ := NewKeyPair("one")
	k2, _ := NewKeyPair("two")
	ak := filepath.Join(home, ".ssh", "authorized_keys")
	// No ~/.ssh yet: made, owner-only.
	if err := run(addScript, k1.AuthorizedLine()+"\n", k1.Blob()); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Dir(ak)); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("~/.ssh: %v %v", st.Mode(), err)
	}
	// A last line without a newline, and a line with options before the key.
	other := `command="echo hi",no-pty ` + k2.AuthorizedLine()
	os.WriteFile(ak, []byte("# a comment\n"+k1.AuthorizedLine()+"\n"+other), 0o600)
	if err := run(addScript, k2.AuthorizedLine(), k2.Blob()); err != nil { // present already (with options)
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(ak); strings.Count(string(got), k2.Blob()) != 1 {
		t.Fatalf("added twice:\n%s", got)
	}
	k3, _ := NewKeyPair("three")
	if err := run(addScript, k3.AuthorizedLine()+"\n", k3.Blob()); err != nil {
		t.Fatal(err)
	}
	want := "# a comment\n" + k1.AuthorizedLine() + "\n" + other + "\n" + k3.AuthorizedLine() + "\n"
	if got, _ := os.ReadFile(ak); string(got) != want {
		t.Fatalf("after add:\n%s\nwant\n%s", got, want)
	}
	if err := run(removeScript, "", k2.Blob()); err != nil {
		t.Fatal(err)
	}
	want = "# a comment\n" + k1.AuthorizedLine() + "\n" + k3.AuthorizedLine() + "\n"
	if got, _ := os.ReadFile(ak); string(got) != want {
		t.Fatalf("after remove:\n%s\nwant\n%s", got, want)
	}
	if st, _ := os.Stat(ak); st.Mode().Perm() != 0o600 {
		t.Errorf("authorized_keys mode %v", st.Mode())
	}
	// A key line is data: shell text in it stays text.
	evil := "ssh-ed25519 " + k1.Blob() + " $(touch " + filepath.Join(home, "pwned") + ")"
	if err := run(removeScript, "", k1.Blob()); err != nil {
		t.Fatal(err)
	}
	if err := run(addScript, evil, k1.Blob()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(home, "pwned")); err == nil {
		t.Fatal("the key line was run as shell")
	}
	if got, _ := os.ReadFile(ak); !strings.Contains(string(got), evil+"\n") {
		t.Fatalf("evil line not stored verbatim:\n%s", got)
	}
}

func TestKeyPairMatchesSSHKeygen(t *testing.T) {
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen not installed (apt-get install openssh-client)")
	}
	k, err := NewKeyPair("celeroot-test")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "id")
	if err := k.WriteFiles(p); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{p, p + ".pub"} {
		if st, _ := os.Stat(f); st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v", f, st.Mode())
		}
	}
	out, err := exec.Command("ssh-keygen", "-l", "-f", p).CombinedOutput()
	if err != nil || !strings.Contains(string(out), k.Fingerprint()) {
		t.Fatalf("ssh-keygen -l: %v %s (want %s)", err, out, k.Fingerprint())
	}
	// ssh-keygen derives the same public key from the private file.
	out, err = exec.Command("ssh-keygen", "-y", "-f", p).CombinedOutput()
	if err != nil || !strings.Contains(string(out), k.Blob()) {
		t.Fatalf("ssh-keygen -y: %v %s", err, out)
	}
	back, err := ReadKeyPair(p)
	if err != nil || back.Blob() != k.Blob() {
		t.Fatalf("ReadKeyPair: %v", err)
	}
	// A passphrase-protected key is refused with the fix.
	enc := filepath.Join(t.TempDir(), "enc")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "secret", "-f", enc).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	if _, err := ReadKeyPair(enc); err == nil || !strings.Contains(err.Error(), "passphrase") {
		t.Errorf("encrypted key: %v", err)
	}
}

func TestInstallPrunesBackups(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "id")
	cur, _ := NewKeyPair("")
	if err := cur.WriteFiles(file); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 3, 0, 0, 0, time.UTC)
	var keys []*KeyPair
	for i := range 4 {
		next, _ := NewKeyPair("")
		if err := next.WriteFiles(file + ".new"); err != nil {
			t.Fatal(err)
		}
		old, _ := ReadKeyPair(file)
		keys = append(keys, old)
		if _, _, err := install(file, file+".new", old, next, now.AddDate(0, i, 0), 2); err != nil {
			t.Fatal(err)
		}
	}
	b := Backups(file)
	if len(b) != 2 {
		t.Fatalf("backups: %v", b)
	}
	// The newest two: the keys replaced by the last two rotations.
	for i, want := range []*KeyPair{keys[3], keys[2]} {
		got, err := ReadKeyPair(b[i])
		if err != nil || got.Blob() != want.Blob() {
			t.Errorf("backup %d (%s): %v", i, b[i], err)
		}
		if _, err := os.Stat(b[i] + ".pub"); err != nil {
			t.Error(err)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*.new*")); len(m) > 0 {
		t.Errorf("staged files left: %v", m)
	}
}
