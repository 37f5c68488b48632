package agent

import (
	"reflect"
	"testing"
	"time"

	"github.com/celeroot/celeroot/drift"
)

func TestHealBackoff(t *testing.T) {
	for fails, want := range map[int]time.Duration{1: 30 * time.Second, 2: time.Minute, 3: 2 * time.Minute, 7: 30 * time.Minute, 50: 30 * time.Minute} {
		if got := healBackoff(fails); got != want {
			t.Errorf("after %d failures: %s, want %s", fails, got, want)
		}
	}
}

func TestPlannedRepairs(t *testing.T) {
	const a, b = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	rep := &drift.Report{Hosts: []drift.HostReport{
		{Host: "in-sync", State: drift.StateInSync, Applied: a, Current: a},
		{Host: "drifted", State: drift.StateDrifted, Applied: a, Current: b},
		{Host: "never-applied", State: drift.StateDrifted, Current: b},
		{Host: "dirty", State: drift.StateDrifted, Current: a + "-dirty-0123456789ab"},
		{Host: "assess", State: drift.StateDrifted, Applied: a, AssessOnly: true},
		{Host: "down", State: drift.StateUnknown, Applied: a},
		{Host: "pending", State: drift.StatePending, Applied: a},
	}}
	todo, left := Planned(rep)
	if want := map[string]string{"drifted": a, "never-applied": b}; !reflect.DeepEqual(todo, want) {
		t.Errorf("repairs %v, want %v", todo, want)
	}
	if len(left) != 2 || left["assess"] != "assess-only" || left["dirty"] == "" {
		t.Errorf("left alone %v", left)
	}
}
