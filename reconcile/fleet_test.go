package reconcile

import (
	"encoding/json"
	"strings"
	"testing"
)

// Each action names the fleet of the host it touches; without fleets the
// sentences and JSON are as before (TestPlan).
func TestPlanNamesFleets(t *testing.T) {
	fleets := loadFleet(t, func(s string) string {
		s = strings.Replace(s, "    address: 10.0.1.10\n", "    address: 10.0.1.10\n    fleet: blue\n", 1)
		s = strings.Replace(s, "    role: webserver\n    address: 10.0.1.11\n", "    role: webserver\n    address: 10.0.1.11\n    fleet: green\n", 1)
		return strings.Replace(s, "    role: database\n", "    role: database\n    fleet: green\n", 1)
	})
	if got := strings.Join(fleets.Fleets(), ","); got != "blue,green" {
		t.Fatalf("fleets %q (the example changed?)", got)
	}
	p := Build(Input{To: rev(shaA, fleets, tree)})
	want := "deploy webserver01 → aaaaaaa (new host) [fleet blue]\ndeploy webserver02 → aaaaaaa (new host) [fleet green]\n" +
		"deploy dbserver01 → aaaaaaa (new host) [fleet green]\nreload scheduler (no schedule set published yet)"
	if got := actions(p); got != want {
		t.Errorf("plan:\n%s\nwant:\n%s", got, want)
	}
	b, err := json.Marshal(p.Actions[0])
	if err != nil || !strings.Contains(string(b), `"fleet":"blue"`) {
		t.Errorf("action JSON %s %v", b, err)
	}
	if b, _ := json.Marshal(p.Actions[3]); strings.Contains(string(b), "fleet") {
		t.Errorf("the scheduler reload names a fleet: %s", b)
	}
	// A host removed from cl.yaml: the fleet it had when applied.
	a := rev(shaA, fleets, tree)
	st := appliedAt(fleets, shaA)
	st.Hosts["old-green"] = HostApplied{SHA: shaA, OK: true}
	p = Build(Input{To: a, State: st, Revisions: map[string]*Revision{shaA: a}, Observed: running(fleets, shaA), Prune: true})
	for _, act := range p.Actions {
		if act.Host == "old-green" && act.Fleet != "" {
			t.Errorf("removal of a host the applied revision does not know names fleet %q", act.Fleet)
		}
	}
}
