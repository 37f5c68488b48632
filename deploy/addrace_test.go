package deploy

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/celeroot/celeroot/config"
)

// TestLocalAddRefusesToOverwriteAnEditMadeMeanwhile: cl.yaml changed by
// another cl while a host was being deployed (here: an uncommitted edit,
// which leaves the branch where it was) makes the registration fail
// instead of silently undoing that edit; the host is cleaned up and HEAD
// stays.
func TestLocalAddRefusesToOverwriteAnEditMadeMeanwhile(t *testing.T) {
	s := newLocal(t, "")
	yaml := strings.Replace(localYAML(s.target, "'touch "+s.fw.marker+"'", ""), "hosts:\n  local1:\n    role: web\n    address: 127.0.0.1\n", "", 1)
	s.repo.write("cl.yaml", yaml)
	before := s.repo.commit("no hosts")
	e := localEngine(t, nil, s.fw)
	load := config.Options{Path: s.repo.path}
	other := yaml + "# edited meanwhile by another cl\n"
	e.Events = func(ev Event) {
		if ev.Step == StepHealth && ev.Status == StatusStart {
			if err := os.WriteFile(load.Path, []byte(other), 0o644); err != nil {
				t.Error(err)
			}
		}
	}
	rep, err := e.Add(context.Background(), AddOptions{Load: load, Spec: config.HostSpec{Name: "local1", Role: "web", Address: "127.0.0.1"},
		Repo: openRepo(t, load.Path), Commit: true, Message: "cl: add host local1 (role web)"})
	if err == nil || rep.Registered || !strings.Contains(err.Error(), "was changed by another cl while host local1 was being deployed") {
		t.Fatalf("add: %v %+v", err, rep)
	}
	if got, _ := os.ReadFile(load.Path); string(got) != other {
		t.Fatalf("the other edit was overwritten:\n%s", got)
	}
	if got := s.repo.git("rev-parse", "HEAD"); got != before {
		t.Fatal("a refused registration moved HEAD")
	}
	if _, err := os.Stat(s.target); !os.IsNotExist(err) {
		t.Fatalf("target left behind: %v", err)
	}
}
