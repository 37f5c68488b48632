package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAgentRequireSigned: `cl agent --require-signed` applies a signed
// configuration to real hosts, refuses a commit whose task file changed
// after signing (the reason in its status, the hosts left on the signed
// release), and applies the next signed commit.
func TestAgentRequireSigned(t *testing.T) {
	a := newAgentFleet(t)
	ctx := ctxFor(t, 5*time.Minute)
	keys := t.TempDir()
	key := filepath.Join(keys, "ops")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	pub, _ := os.ReadFile(key + ".pub")
	allowed := filepath.Join(keys, "allowed_signers")
	if err := os.WriteFile(allowed, append([]byte(`ops@example.com namespaces="cl-config,git" `), pub...), 0o644); err != nil {
		t.Fatal(err)
	}
	sign := func() {
		t.Helper()
		if _, stderr, code := a.cl(ctx, "config", "sign", "--key", key); code != 0 {
			t.Fatalf("config sign: %d %s", code, stderr)
		}
	}
	sign()
	first := a.push("signed")
	a.startAgent(ctx, "--interval", "1s", "--drift-interval", "0", "--require-signed", "--allowed-signers", allowed)
	a.waitStatus(90*time.Second, "the signed commit applied", func(s agentStatus) bool { return s.Applied == first })

	a.write("tasks/checks/hello.sh", "#!/bin/sh\necho not reviewed\n")
	second := a.push("unsigned change")
	st := a.waitStatus(60*time.Second, "the unsigned change refused", func(s agentStatus) bool {
		return s.Head == second && s.PlanError != ""
	})
	if st.Applied != first || !strings.Contains(st.PlanError, "signature check (--require-signed)") || !strings.Contains(st.PlanError, "changed tasks/checks/hello.sh") {
		t.Fatalf("refused commit: applied %s, plan error %q", st.Applied, st.PlanError)
	}
	for i, cur := range a.currents() {
		if cur != first {
			t.Errorf("%s runs %s after a refused commit, want %s", a.f.Hosts[i].Name, cur, first)
		}
	}

	sign()
	third := a.push("signed again")
	a.waitStatus(90*time.Second, "the next signed commit applied", func(s agentStatus) bool { return s.Applied == third && s.PlanError == "" })
	for i, cur := range a.currents() {
		if cur != third {
			t.Errorf("%s runs %s, want %s", a.f.Hosts[i].Name, cur, third)
		}
	}
}
