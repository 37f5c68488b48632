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

// A fleet-only plan (cl plan --cluster F) plans F's hosts only, removes only
// hosts that were F's, and never reloads the scheduler (it notes a changed
// schedule set instead).
func TestFleetOnlyPlan(t *testing.T) {
	fleets := loadFleet(t, func(s string) string {
		s = strings.Replace(s, "    address: 10.0.1.10\n", "    address: 10.0.1.10\n    fleet: blue\n", 1)
		s = strings.Replace(s, "    role: webserver\n    address: 10.0.1.11\n", "    role: webserver\n    address: 10.0.1.11\n    fleet: green\n", 1)
		return strings.Replace(s, "    role: database\n", "    role: database\n    fleet: green\n", 1)
	})
	p := Build(Input{To: rev(shaA, fleets, tree), Fleet: "green"})
	want := "deploy webserver02 → aaaaaaa (new host) [fleet green]\ndeploy dbserver01 → aaaaaaa (new host) [fleet green]"
	if got := actions(p); got != want {
		t.Errorf("actions\n got %s\nwant %s", got, want)
	}
	if p.Fleet != "green" || p.ReloadsScheduler() || len(p.Hosts) != 2 {
		t.Errorf("fleet %q, reloads %v, %d host findings", p.Fleet, p.ReloadsScheduler(), len(p.Hosts))
	}
	if len(p.Notes) != 1 || !strings.Contains(p.Notes[0], "not published") {
		t.Errorf("notes %q: want the unpublished schedule set noted", p.Notes)
	}
	var b strings.Builder
	if err := p.WriteText(&b, Colors{}); err != nil || !strings.Contains(b.String(), ", fleet green only, ") {
		t.Errorf("text %q %v", b.String(), err)
	}
	// Prune: a gone host that was blue's is not a green plan's business.
	a := rev(shaA, fleets, tree)
	st := appliedAt(fleets, shaA)
	st.Hosts["old-blue"] = HostApplied{SHA: shaA, OK: true}
	st.Hosts["old-green"] = HostApplied{SHA: shaA, OK: true}
	withOld := loadFleet(t, func(s string) string {
		s = strings.Replace(s, "    address: 10.0.1.10\n", "    address: 10.0.1.10\n    fleet: blue\n", 1)
		s = strings.Replace(s, "    role: webserver\n    address: 10.0.1.11\n", "    role: webserver\n    address: 10.0.1.11\n    fleet: green\n", 1)
		s = strings.Replace(s, "    role: database\n", "    role: database\n    fleet: green\n", 1)
		return strings.Replace(s, "hosts:\n", "hosts:\n  old-blue: {address: 10.0.9.1, role: webserver, fleet: blue}\n  old-green: {address: 10.0.9.2, role: webserver, fleet: green}\n", 1)
	})
	old := rev(shaB, withOld, tree)
	st.SHA = shaB
	p = Build(Input{To: a, State: st, Revisions: map[string]*Revision{shaB: old, shaA: a}, Observed: running(fleets, shaA), Prune: true, Fleet: "green",
		Published: published(fleets, shaA)})
	if got := strings.Join(p.Removes(), ","); got != "old-green" {
		t.Errorf("removes %q, want old-green only", got)
	}
}
