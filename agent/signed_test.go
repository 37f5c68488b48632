package agent

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/signing"
	gitsync "github.com/celeroot/celeroot/sync"
)

// signedRepo is a git repository holding a copy of the example fleet;
// commit signs the configuration with key (when given), commits with
// commitKey's SSH signature (when given) and returns the SHA.
type signedRepo struct {
	t   *testing.T
	dir string
	wt  *gitsync.WorkTree
}

func newSignedRepo(t *testing.T) *signedRepo {
	t.Helper()
	for _, tool := range []string{"git", "ssh-keygen", "cp"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: %v", tool, err)
		}
	}
	r := &signedRepo{t: t, dir: t.TempDir()}
	src, err := filepath.Abs("../examples/fleet")
	if err != nil {
		t.Fatal(err)
	}
	r.run("cp", "-a", src+"/.", r.dir)
	r.git("init", "-q", "-b", "main")
	return r
}

func (r *signedRepo) run(name string, args ...string) {
	r.t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = r.dir, append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null")
	if out, err := cmd.CombinedOutput(); err != nil {
		r.t.Fatalf("%s %v: %v %s", name, args, err, out)
	}
}

func (r *signedRepo) git(args ...string) {
	r.t.Helper()
	r.run("git", append([]string{"-c", "user.name=Ops", "-c", "user.email=ops@example.com", "-c", "gpg.format=ssh"}, args...)...)
}

func (r *signedRepo) commit(configKey, commitKey, msg string) string {
	r.t.Helper()
	if configKey != "" {
		s, err := signing.LoadSigner(configKey)
		if err != nil {
			r.t.Fatal(err)
		}
		data, _, err := signing.SignTree(os.DirFS(r.dir), s, "")
		if err != nil {
			r.t.Fatal(err)
		}
		os.WriteFile(filepath.Join(r.dir, signing.DefaultSignatureFile), data, 0o644)
	}
	r.git("add", "-A")
	args := []string{"commit", "-q", "--allow-empty", "-m", msg}
	if commitKey != "" {
		args = append([]string{"-c", "user.signingkey=" + commitKey}, append(args, "-S")...)
	}
	r.git(args...)
	if r.wt == nil {
		wt, err := gitsync.Open(context.Background(), r.dir)
		if err != nil {
			r.t.Fatal(err)
		}
		r.wt = wt
	}
	head, err := r.wt.Head(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	return head
}

func sshKey(t *testing.T, dir, name string) (string, string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", p).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	pub, _ := os.ReadFile(p + ".pub")
	return p, strings.TrimSpace(string(pub))
}

// TestRequireSigned: with --require-signed the agent applies a signed
// commit, refuses (and reports why) a commit whose task file changed after
// signing and one SSH-signed by a stranger, and applies the next good one.
func TestRequireSigned(t *testing.T) {
	ctx := context.Background()
	keys := t.TempDir()
	ops, opsPub := sshKey(t, keys, "ops")
	stranger, _ := sshKey(t, keys, "stranger")
	allowed := filepath.Join(keys, "allowed_signers")
	os.WriteFile(allowed, []byte("ops@example.com "+opsPub+"\n"), 0o644)

	repo := newSignedRepo(t)
	a, src, _, d := newTestAgent(t)
	loader := &Loader{Trees: repo, Env: "dev"}
	loader.Verify = (&SignedPolicy{AllowedSigners: allowed}).verifier(repo)
	a.Planner.Revisions = loader

	step := func(sha, wantApplied, wantErr string, wantDeploys int) {
		t.Helper()
		src.head = sha
		a.Sync(ctx)
		doc := a.Status.Doc(ctx, a.Planner.Store, nil)
		if doc.Applied != wantApplied || d.calls != wantDeploys || (wantErr == "") != (doc.PlanError == "") || !strings.Contains(doc.PlanError, wantErr) {
			t.Fatalf("commit %s: applied %s (want %s), %d deploys (want %d), plan error %q (want %q)", sha[:8], doc.Applied, wantApplied, d.calls, wantDeploys, doc.PlanError, wantErr)
		}
	}
	good := repo.commit(ops, ops, "signed")
	step(good, good, "", 1)

	os.WriteFile(filepath.Join(repo.dir, "tasks/test_scripts.sh"), []byte("#!/bin/sh\necho unreviewed\n"), 0o755)
	tampered := repo.commit("", ops, "changed after signing")
	step(tampered, good, "changed tasks/test_scripts.sh", 1)

	strangers := repo.commit(ops, stranger, "config signed, commit signed by a stranger")
	step(strangers, good, "is not in the allowed signers", 1)

	fixed := repo.commit(ops, "", "config signed, commit unsigned")
	step(fixed, fixed, "", 2)

	os.Remove(filepath.Join(repo.dir, signing.DefaultSignatureFile))
	unsigned := repo.commit("", "", "signature removed")
	step(unsigned, fixed, "the configuration is unsigned", 2)
}

// ReadTree and CommitSignature make signedRepo a Loader's Trees and the
// verifier's source.
func (r *signedRepo) ReadTree(ctx context.Context, sha string) (fs.FS, time.Time, error) {
	return r.wt.ReadTree(ctx, sha)
}

func (r *signedRepo) CommitSignature(ctx context.Context, sha string) (gitsync.CommitSignature, error) {
	return r.wt.CommitSignature(ctx, sha)
}

func (r *signedRepo) VerifyPGP(ctx context.Context, sha, ring string) (string, string, error) {
	return r.wt.VerifyPGP(ctx, sha, ring)
}
