package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/celeroot/celeroot/drift"
)

// checkStatRecord asserts that release dir of version v has a stat record
// (.celeroot/stat) listing at least want, each line the file's identity
// as stat prints it now.
func checkStatRecord(t *testing.T, dir, v string, want ...string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, ".celeroot/stat"))
	if err != nil {
		t.Fatalf("release %s: no stat record: %v", ShortVersion(v), err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if lines[0] != "celeroot-stat v1 "+v {
		t.Fatalf("release %s: stat record header %q", ShortVersion(v), lines[0])
	}
	recorded := map[string]string{}
	for _, l := range lines[1:] {
		f := strings.SplitN(l, " ", 5)
		if len(f) != 5 {
			t.Fatalf("release %s: stat record line %q", ShortVersion(v), l)
		}
		recorded[f[4]] = l
	}
	for _, p := range want {
		cmd := exec.Command("stat", "-c", "%i %s %.9Y %.9Z %n", "--", p)
		cmd.Dir = dir
		now, err := cmd.Output()
		if err != nil {
			t.Fatalf("stat %s: %v", p, err)
		}
		if got := recorded[p]; got != strings.TrimSpace(string(now)) {
			t.Errorf("release %s: %s recorded as %q, is %q now", ShortVersion(v), p, got, strings.TrimSpace(string(now)))
		}
	}
}

// TestLocalDeployDoesNotRecordAFileChangedOnTheHost: a file of the live
// release changed on the host is hard-linked into the next release as it
// is (the delta trusts the base), but left out of that release's stat
// record, so the drift check still hashes it and reports it; the files
// unchanged since staging are recorded.
func TestLocalDeployDoesNotRecordAFileChangedOnTheHost(t *testing.T) {
	s := newLocal(t, "")
	rep, err := s.deploy(t)
	if err != nil {
		t.Fatalf("first deploy: %v %+v", err, rep.Hosts)
	}
	v1 := rep.Version
	if err := os.WriteFile(filepath.Join(s.target, "releases", v1, "tasks/a/two.sh"), []byte("echo TWO\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	s.repo.write("tasks/a/one.sh", "echo ONE\n")
	v2 := s.repo.commit("change one")
	if rep, err = s.deploy(t); err != nil || rep.Hosts[0].Transfer != "delta" {
		t.Fatalf("second deploy: %v %+v", err, rep.Hosts[0])
	}
	rel2 := filepath.Join(s.target, "releases", v2)
	checkStatRecord(t, rel2, v2, "bin/cl", "README", "tasks/a/one.sh")
	if b, _ := os.ReadFile(filepath.Join(rel2, ".celeroot/stat")); strings.Contains(string(b), " tasks/a/two.sh\n") {
		t.Errorf("the file changed on the host is recorded:\n%s", b)
	}
	ob := drift.Observe(t.Context(), localOpener{}, s.repo.config().Hosts.Values(), drift.ObserveOptions{TargetDir: s.target, Verify: true})[0]
	if want := []drift.FileChange{{Path: "tasks/a/two.sh", Change: drift.FileChanged}}; !reflect.DeepEqual(ob.Files, want) {
		t.Errorf("drift check: %+v, want %v", ob, want)
	}
}
