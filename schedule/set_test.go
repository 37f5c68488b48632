package schedule_test

import (
	"encoding/json"
	"testing"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/schedule"
)

func TestFromConfig(t *testing.T) {
	cfg, _, err := config.LoadValid(config.Options{Path: "../examples/fleet/cl.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	set := schedule.FromConfig(cfg, "abc123", "file:cl.yaml")
	if len(set.Schedules) != cfg.Schedules.Len() || len(set.Hosts) != cfg.Hosts.Len() {
		t.Fatalf("set has %d schedules, %d hosts", len(set.Schedules), len(set.Hosts))
	}
	if set.Backup == nil || set.Backup.Schedule != cfg.Redis.Backup.Schedule || set.Backup.Keep != 7 {
		t.Errorf("backup = %+v", set.Backup)
	}
	for i, s := range cfg.Schedules.Values() {
		sp := &set.Schedules[i]
		var want []string
		for _, h := range cfg.TargetHosts(s.Targets) {
			want = append(want, h.Name)
		}
		var got []string
		for _, h := range set.HostsFor(sp) {
			got = append(got, h.Name)
			tr, ok := sp.Tasks[h.Role]
			if !ok || tr.Error != "" || tr.Task == "" || tr.Module == "" || tr.TimeoutMS <= 0 {
				t.Errorf("%s: task for role %s = %+v", sp.Name, h.Role, tr)
			}
			for name := range s.Params {
				if _, ok := tr.Params[name]; !ok {
					t.Errorf("%s: param %s missing from %v", sp.Name, name, tr.Params)
				}
			}
		}
		if len(got) != len(want) || len(got) == 0 {
			t.Errorf("%s reaches %v, config says %v", sp.Name, got, want)
		}
		for j := range got {
			if got[j] != want[j] {
				t.Errorf("%s reaches %v, config says %v", sp.Name, got, want)
			}
		}
	}

	// The digest is the content: it survives a JSON round trip (what the
	// agent publishes) and ignores who built the set.
	b, _ := json.Marshal(set)
	back, err := schedule.DecodeSet(b)
	if err != nil {
		t.Fatal(err)
	}
	back.Source, back.SHA = "agent", "other"
	if back.Digest() != set.Digest() {
		t.Errorf("digest changed in a round trip: %s vs %s", back.Digest(), set.Digest())
	}
	back.Schedules[0].Cron = "0 3 * * *"
	if back.Digest() == set.Digest() {
		t.Error("digest ignores a cron change")
	}
}
