package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
