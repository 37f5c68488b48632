package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The README's tour quotes cl's output; this test runs the tour's commands
// against a fresh `cl config init` project and checks every quoted line,
// so the README cannot drift from the code. In a quoted line "..." stands
// for the rest of a long message. When it fails, paste the printed line
// into README.md.
func TestReadmeQuotedOutputs(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "myfleet")
	if _, stderr, code := cl(t, "config", "init", dir); code != 0 {
		t.Fatalf("config init: %d %s", code, stderr)
	}
	for _, args := range [][]string{{"init", "-q"}, {"add", "."}, {"-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "init"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	t.Chdir(dir) // as the tour's `cd myfleet`: messages name cl.yaml
	file := "cl.yaml"
	if _, stderr, code := cl(t, "-c", file, "host", "add", "web1", "--role", "default", "--address", "10.0.0.5", "--tag", "env=prod", "--no-deploy"); code != 0 {
		t.Fatalf("host add: %d %s", code, stderr)
	}

	// The tour: `cl host update web1 --role nosuch` and the line quoted
	// under it (after "#   ").
	_, stderr, code := cl(t, "-c", file, "host", "update", "web1", "--role", "nosuch")
	if code == 0 {
		t.Fatal("host update to an unknown role succeeded")
	}
	quoted := readmeLineAfter(t, string(readme), "cl host update web1 --role nosuch")
	checkQuoted(t, quoted, stderr)

	// "Mistakes are reported all at once": the same file with web1's
	// address key misspelt and the schedule's cron cut to four fields.
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(b), "    address: 10.0.0.5", "    adress: 10.0.0.5", 1)
	bad = regexp.MustCompile(`cron: "[^"]*"`).ReplaceAllString(bad, `cron: "0 3 * *"`)
	if err := os.WriteFile(file, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, _ := cl(t, "-c", file, "config", "validate")
	block := readmeBlockAfter(t, string(readme), "Mistakes are reported all at once")
	if len(block) != 2 {
		t.Fatalf("README's mistakes block has %d lines, want 2: %q", len(block), block)
	}
	for _, q := range block {
		checkQuoted(t, q, stdout+stderr)
	}
}

// readmeLineAfter returns the "#   "-quoted line after the line holding cmd.
func readmeLineAfter(t *testing.T, readme, cmd string) string {
	t.Helper()
	lines := strings.Split(readme, "\n")
	for i, l := range lines {
		if strings.Contains(l, cmd) && i+1 < len(lines) {
			if q, ok := strings.CutPrefix(lines[i+1], "#   "); ok {
				return q
			}
		}
	}
	t.Fatalf("README has no %q followed by a quoted output line", cmd)
	return ""
}

// readmeBlockAfter returns the lines of the first ``` block after the
// paragraph starting with intro.
func readmeBlockAfter(t *testing.T, readme, intro string) []string {
	t.Helper()
	_, rest, ok := strings.Cut(readme, intro)
	if !ok {
		t.Fatalf("README has no %q", intro)
	}
	parts := strings.SplitN(rest, "```", 3)
	if len(parts) < 3 {
		t.Fatalf("README has no code block after %q", intro)
	}
	return strings.Split(strings.Trim(parts[1], "\n"), "\n")
}

// checkQuoted fails unless some line of out matches quoted, where "..."
// in quoted matches anything.
func checkQuoted(t *testing.T, quoted, out string) {
	t.Helper()
	re := regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(quoted), `\.\.\.`, ".*") + "$")
	for _, l := range strings.Split(out, "\n") {
		if re.MatchString(l) {
			return
		}
	}
	t.Errorf("README quotes a line cl does not print:\n  README: %s\n  cl printed:\n%s", quoted, out)
}
