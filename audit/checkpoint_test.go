package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/celeroot/celeroot/audit"
)

func sshKeygen(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("ssh-keygen")
	if err != nil {
		t.Skip("ssh-keygen not installed: apt-get install openssh-client")
	}
	return p
}

func readCheckpoint(t *testing.T, path string) audit.Checkpoint {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c audit.Checkpoint
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCheckpointInteropWithSSHKeygen: a checkpoint signed by cl (ed25519,
// ECDSA and RSA keys made by ssh-keygen, loaded through audit.signing_key's
// loader) verifies with `ssh-keygen -Y verify` and `-Y check-novalidate`;
// a payload signed by `ssh-keygen -Y sign` verifies in cl.
func TestCheckpointInteropWithSSHKeygen(t *testing.T) {
	keygen := sshKeygen(t)
	for _, typ := range []string{"ed25519", "ecdsa", "rsa"} {
		t.Run(typ, func(t *testing.T) {
			dir := t.TempDir()
			key := filepath.Join(dir, "audit_key")
			if out, err := exec.Command(keygen, "-q", "-t", typ, "-N", "", "-C", "audit", "-f", key).CombinedOutput(); err != nil {
				t.Fatalf("ssh-keygen: %v: %s", err, out)
			}
			signer, err := audit.LoadSigner(key)
			if err != nil {
				t.Fatal(err)
			}
			f := newFixture(t, 0)
			f.trail.Signer = signer
			f.append(t, "config.edit")

			// cl signed → ssh-keygen verifies.
			cp := readCheckpoint(t, audit.CheckpointPath(f.trail.Mirror))
			sig := filepath.Join(dir, "cp.sig")
			if err := os.WriteFile(sig, []byte(cp.Signature), 0o600); err != nil {
				t.Fatal(err)
			}
			pub, _ := os.ReadFile(key + ".pub")
			allowed := filepath.Join(dir, "allowed")
			_ = os.WriteFile(allowed, []byte(`audit namespaces="cl-audit" `+string(pub)), 0o600)
			run := func(args ...string) ([]byte, error) {
				cmd := exec.Command(keygen, args...)
				cmd.Stdin = bytes.NewReader(cp.Payload())
				return cmd.CombinedOutput()
			}
			if out, err := run("-Y", "verify", "-f", allowed, "-I", "audit", "-n", "cl-audit", "-s", sig); err != nil {
				t.Fatalf("ssh-keygen -Y verify refused cl's checkpoint: %v: %s", err, out)
			}
			if out, err := run("-Y", "check-novalidate", "-n", "cl-audit", "-s", sig); err != nil {
				t.Fatalf("ssh-keygen -Y check-novalidate refused cl's checkpoint: %v: %s", err, out)
			}
			if _, err := run("-Y", "verify", "-f", allowed, "-I", "audit", "-n", "git", "-s", sig); err == nil {
				t.Fatal("ssh-keygen accepted the checkpoint in namespace git")
			}

			// ssh-keygen signed → cl verifies (the whole verify path).
			msg := filepath.Join(dir, "payload")
			_ = os.WriteFile(msg, cp.Payload(), 0o600)
			if out, err := exec.Command(keygen, "-Y", "sign", "-f", key, "-n", "cl-audit", msg).CombinedOutput(); err != nil {
				t.Fatalf("ssh-keygen -Y sign: %v: %s", err, out)
			}
			theirs, _ := os.ReadFile(msg + ".sig")
			cp.Signature = string(theirs)
			b, _ := json.Marshal(cp)
			_ = os.WriteFile(audit.CheckpointPath(f.trail.Mirror), b, 0o600)
			rep, err := f.trail.Verify(context.Background())
			if err != nil || !rep.OK() {
				t.Fatalf("cl refused ssh-keygen's signature: %v %+v", err, rep)
			}

			// …and refuses one in another namespace.
			_ = os.Remove(msg + ".sig")
			if out, err := exec.Command(keygen, "-Y", "sign", "-f", key, "-n", "file", msg).CombinedOutput(); err != nil {
				t.Fatalf("ssh-keygen -Y sign: %v: %s", err, out)
			}
			theirs, _ = os.ReadFile(msg + ".sig")
			cp.Signature = string(theirs)
			b, _ = json.Marshal(cp)
			_ = os.WriteFile(audit.CheckpointPath(f.trail.Mirror), b, 0o600)
			rep, err = f.trail.Verify(context.Background())
			if err != nil || rep.OK() || !strings.Contains(rep.First().Message, "namespace") {
				t.Fatalf("cl accepted a signature in namespace file: %v %+v", err, rep)
			}
		})
	}
}

func TestLoadSignerRefusesPassphrase(t *testing.T) {
	keygen := sshKeygen(t)
	key := filepath.Join(t.TempDir(), "k")
	if out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "secret", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	_, err := audit.LoadSigner(key)
	if err == nil || !strings.Contains(err.Error(), "passphrase") {
		t.Fatalf("err = %v, want a passphrase error", err)
	}
	// Verifying needs only the public half.
	if _, err := audit.LoadPublic(key); err != nil {
		t.Fatalf("LoadPublic with key.pub: %v", err)
	}
}
