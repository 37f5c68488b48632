package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/deploy"
)

// TestDeployLongCanaryAndRepeatedKills (CL_E2E_LONG=1): 20 hosts; a canary
// rollout; then cl is SIGKILLed at each step of a deploy in turn, and after
// every kill current is sound on every host and the next deploy (clearing
// the dead holder's lock) converges the fleet.
func TestDeployLongCanaryAndRepeatedKills(t *testing.T) {
	if os.Getenv("CL_E2E_LONG") == "" {
		t.Skip("long run: set CL_E2E_LONG=1")
	}
	d := newDeployFleet(t, 20, "")
	ctx := ctxFor(t, 20*time.Minute)
	rep, _, code, stderr := d.deployJSON(ctx, "--all", "--strategy", "canary", "--canary", "2")
	if code != 0 || rep.Canary != 2 {
		t.Fatalf("canary deploy: exit %d\n%s%s", code, stderr, describe(rep))
	}
	for i, step := range []deploy.Step{deploy.StepProbe, deploy.StepTransfer, deploy.StepSwitch, deploy.StepHealth, deploy.StepTransfer} {
		d.write("tasks/checks/payload.txt", fmt.Sprintf("round %d\n", i))
		want := d.commit(fmt.Sprintf("round %d", i))
		if !d.killDuring(ctx, step) {
			t.Fatalf("round %d: the deploy ended before %s", i, step)
		}
		d.assertCurrentSound()
		args := []string{"--all"}
		if _, stderr, code := d.cl(ctx, "host", "deploy", "--all", "--check"); code == 1 && strings.Contains(stderr, "unreachable") {
			t.Fatalf("round %d: hosts unreachable after the kill", i)
		}
		for {
			rep, _, code, stderr = d.deployJSON(ctx, args...)
			if code == 0 {
				break
			}
			if !strings.Contains(stderr, "--force-unlock") {
				t.Fatalf("round %d after a kill at %s: exit %d\n%s%s", i, step, code, stderr, describe(rep))
			}
			args = []string{"--all", "--force-unlock", lockID(stderr)}
		}
		for _, h := range d.f.Hosts {
			if d.current(h) != want || d.worker(h) != want {
				t.Fatalf("round %d: %s runs %s (worker %s), want %s", i, h.Name, d.current(h), d.worker(h), want)
			}
		}
	}
}
