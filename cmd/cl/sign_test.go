package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/celeroot/celeroot/audit"
	"github.com/celeroot/celeroot/queue/queuetest"
)

// signProject is a `cl config init` project with security.allowed_signers
// listing a fresh ed25519 key for ops@example.com; it returns cl.yaml and
// the private key.
func signProject(t *testing.T) (string, string) {
	t.Helper()
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skipf("ssh-keygen is not installed (apt-get install openssh-client): %v", err)
	}
	path := initProject(t)
	dir := filepath.Dir(path)
	key := filepath.Join(t.TempDir(), "signer")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	pub, _ := os.ReadFile(key + ".pub")
	if err := os.WriteFile(filepath.Join(dir, "allowed_signers"), append([]byte("ops@example.com "), pub...), 0o644); err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("\nsecurity:\n  allowed_signers: allowed_signers\n")
	f.Close()
	return path, key
}

func TestConfigSignVerify(t *testing.T) {
	path, key := signProject(t)
	dir := filepath.Dir(path)
	if _, stderr, code := cl(t, "-c", path, "config", "verify"); code != ExitError || !strings.Contains(stderr, "unsigned") || !strings.Contains(stderr, "cl config sign --key") {
		t.Fatalf("unsigned: %d %s", code, stderr)
	}
	out, stderr, code := cl(t, "-c", path, "config", "sign", "--key", key, "--principal", "ops@example.com")
	if code != 0 || !strings.Contains(out, "cl.yaml.sig") {
		t.Fatalf("sign: %d %s %s", code, out, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "cl.yaml.sig")); err != nil {
		t.Fatal(err)
	}
	out, stderr, code = cl(t, "-c", path, "config", "verify")
	if code != 0 || !strings.Contains(out, "configuration signed by ops@example.com") {
		t.Fatalf("verify: %d %s %s", code, out, stderr)
	}
	// A file outside cl.yaml, tasks/ and environments/ is not signed.
	os.WriteFile(filepath.Join(dir, "NOTES"), []byte("x"), 0o644)
	if _, stderr, code := cl(t, "-c", path, "config", "verify"); code != 0 {
		t.Fatalf("an unsigned extra file refused: %s", stderr)
	}
	task := "tasks/system/disk_usage.sh"
	if err := os.WriteFile(filepath.Join(dir, task), []byte("#!/bin/sh\necho changed after signing\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = cl(t, "-c", path, "config", "verify")
	if code != ExitError || !strings.Contains(stderr, "changed "+task) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Fatalf("tampered: %d %q", code, stderr)
	}
	// --principal refuses a principal the key is not listed for, before writing.
	before, _ := os.ReadFile(filepath.Join(dir, "cl.yaml.sig"))
	if _, stderr, code := cl(t, "-c", path, "config", "sign", "--key", key, "--principal", "eve@example.com"); code != ExitError || !strings.Contains(stderr, "not allowed to sign for eve@example.com") {
		t.Fatalf("wrong principal: %d %s", code, stderr)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "cl.yaml.sig")); string(after) != string(before) {
		t.Fatal("a refused sign rewrote the signature file")
	}
}

// TestHostDeployVerifyRefuses: --verify refuses before any host is
// contacted: unsigned, tampered, and a commit signed by a key that is not
// allowed.
func TestHostDeployVerifyRefuses(t *testing.T) {
	path, key := signProject(t)
	dir := filepath.Dir(path)
	_, stderr, code := cl(t, "-c", path, "host", "deploy", "--verify", "--all")
	if code != ExitError || !strings.Contains(stderr, "deploy refused (--verify): the configuration is unsigned") {
		t.Fatalf("unsigned: %d %s", code, stderr)
	}
	if _, stderr, code := cl(t, "-c", path, "config", "sign", "--key", key); code != 0 {
		t.Fatal(stderr)
	}
	// A commit signed with another key: the configuration verifies, the commit does not.
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	other := filepath.Join(t.TempDir(), "other")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=Ops", "-c", "user.email=ops@example.com", "-c", "gpg.format=ssh"}, args...)...)
		cmd.Dir, cmd.Env = dir, append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	git("init", "-q", "-b", "main")
	git("add", "-A")
	git("-c", "user.signingkey="+other, "commit", "-q", "-S", "-m", "signed by a stranger")
	_, stderr, code = cl(t, "-c", path, "host", "deploy", "--verify", "--all")
	if code != ExitError || !strings.Contains(stderr, "deploy refused (--verify): commit ") || !strings.Contains(stderr, "is not in the allowed signers") {
		t.Fatalf("stranger's commit: %d %s", code, stderr)
	}
	git("-c", "user.signingkey="+key, "commit", "-q", "--amend", "-S", "-m", "signed by ops")
	out, stderr, code := cl(t, "-c", path, "config", "verify")
	if code != 0 || !strings.Contains(out, "configuration signed by ops@example.com") || !strings.Contains(out, "signed by ops@example.com") || !strings.Contains(out, "; commit ") {
		t.Fatalf("signed commit: %d %s %s", code, out, stderr)
	}
	os.WriteFile(filepath.Join(dir, "cl.yaml.sig"), []byte("garbage"), 0o644)
	if _, stderr, code := cl(t, "-c", path, "host", "deploy", "--verify", "--all"); code != ExitError || !strings.Contains(stderr, "does not parse") {
		t.Fatalf("garbage signature: %d %s", code, stderr)
	}
}

func TestAgentRequireSignedNeedsAllowedSigners(t *testing.T) {
	for _, args := range [][]string{
		{"agent", "--repo", t.TempDir(), "--require-signed"},
		{"agent", "--repo", t.TempDir(), "--allowed-signers", "allowed"},
	} {
		if _, stderr, code := cl(t, args...); code != ExitError || !strings.Contains(stderr, "--require-signed and --allowed-signers FILE go together") {
			t.Fatalf("%v: %d %s", args, code, stderr)
		}
	}
}

// TestSSHKeygenSignsPrintedManifest: the docs' recipe for signing with
// ssh-keygen (cl config sign --print-manifest, ssh-keygen -Y sign, cat)
// gives a signature cl config verify accepts, and ssh-keygen -Y verify
// accepts the manifest that follows it.
func TestSSHKeygenSignsPrintedManifest(t *testing.T) {
	path, key := signProject(t)
	dir := filepath.Dir(path)
	sh := `printf '%s' "$MANIFEST" > manifest && ssh-keygen -q -Y sign -n cl-config -f "$KEY" manifest && cat manifest.sig manifest > cl.yaml.sig && rm manifest manifest.sig`
	manifest, stderr, code := cl(t, "-c", path, "config", "sign", "--print-manifest")
	if code != 0 || !strings.HasPrefix(manifest, "cl-config manifest v1\n") || !strings.Contains(manifest, " tasks/system/disk_usage.sh\n") {
		t.Fatalf("print-manifest: %d %s %s", code, manifest, stderr)
	}
	cmd := exec.Command("sh", "-c", sh)
	cmd.Dir, cmd.Env = dir, append(os.Environ(), "KEY="+key, "MANIFEST="+manifest)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	if out, stderr, code := cl(t, "-c", path, "config", "verify"); code != 0 || !strings.Contains(out, "ops@example.com") {
		t.Fatalf("verify: %d %s %s", code, out, stderr)
	}
	check := exec.Command("sh", "-c", `sed '1,/^-----END SSH SIGNATURE-----$/d' cl.yaml.sig | ssh-keygen -Y verify -f allowed_signers -I ops@example.com -n cl-config -s cl.yaml.sig`)
	check.Dir = dir
	if out, err := check.CombinedOutput(); err != nil || !strings.Contains(string(out), "Good") {
		t.Fatalf("the docs' ssh-keygen check: %v %s", err, out)
	}
	if _, stderr, code := cl(t, "-c", path, "config", "sign"); code != ExitError || !strings.Contains(stderr, "pass --key FILE") {
		t.Fatalf("no key: %d %s", code, stderr)
	}
}

// TestConfigSignAudited: cl config sign leaves a config.sign record;
// --print-manifest, which signs nothing, leaves none.
func TestConfigSignAudited(t *testing.T) {
	if testing.Short() {
		t.Skip("needs redis-server")
	}
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen is not installed")
	}
	srv := queuetest.StartRedis(t)
	path := auditProject(t, srv.URL(), "")
	key := filepath.Join(t.TempDir(), "signer")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	cl(t, "-c", path, "config", "sign", "--print-manifest")
	if _, stderr, code := cl(t, "-c", path, "config", "sign", "--key", key); code != 0 || stderr != "" {
		t.Fatalf("sign: %d %s", code, stderr)
	}
	out, stderr, code := cl(t, "-c", path, "-o", "json", "audit", "logs")
	var recs []audit.Record
	if code != 0 || json.Unmarshal([]byte(out), &recs) != nil || len(recs) != 1 || recs[0].Action != "config.sign" || recs[0].Result != audit.ResultOK {
		t.Fatalf("audit logs: %d %s %s", code, out, stderr)
	}
}
