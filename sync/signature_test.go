package sync

import (
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestCommitSignature: the payload is the commit as git stores it without
// its gpgsig header (what git verify-commit checks); an unsigned commit
// has no signature and its payload is the whole commit.
func TestCommitSignature(t *testing.T) {
	ctx := context.Background()
	r := newGitRepo(t)
	r.write("cl.yaml", "cluster:\n  name: a\n", 0o644)
	r.git("add", "-A")
	r.git("commit", "-q", "-m", "unsigned")
	w, err := Open(ctx, r.dir)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := w.CommitSignature(ctx, "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	if cs.Signature != "" || string(cs.Payload) != r.git("cat-file", "commit", "HEAD")+"\n" || cs.CommitterEmail != "t@t" {
		t.Fatalf("unsigned: %+v", cs)
	}

	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen is not installed (apt-get install openssh-client)")
	}
	key := filepath.Join(t.TempDir(), "k")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	r.write("cl.yaml", "cluster:\n  name: b\n", 0o644)
	r.git("add", "-A")
	r.git("-c", "gpg.format=ssh", "-c", "user.signingkey="+key, "commit", "-q", "-S", "-m", "signed")
	cs, err = w.CommitSignature(ctx, "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	raw := r.git("cat-file", "commit", "HEAD") + "\n"
	unsigned := regexp.MustCompile(`(?s)gpgsig -----BEGIN SSH SIGNATURE-----.*?-----END SSH SIGNATURE-----\n`).ReplaceAllString(raw, "")
	if !strings.HasPrefix(cs.Signature, "-----BEGIN SSH SIGNATURE-----") || string(cs.Payload) != unsigned || strings.Contains(string(cs.Payload), "gpgsig") {
		t.Fatalf("signed: signature %q\npayload %q\nwant %q", cs.Signature, cs.Payload, unsigned)
	}
	if _, err := w.CommitSignature(ctx, "nosuch"); err == nil {
		t.Fatal("an unknown revision gave a signature")
	}
}
