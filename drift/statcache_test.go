package drift

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/hostexec"
)

// statFormat is the identity deploy records in .celeroot/stat.
const statFormat = "%i %s %.9Y %.9Z %n"

// recordStat writes rel's .celeroot/stat for paths the way deploy does,
// after the clock has moved past the files' last change (deploy leaves
// out the files changed within the recording's clock tick).
func recordStat(t *testing.T, rel, sha string, paths []string) {
	t.Helper()
	time.Sleep(20 * time.Millisecond)
	cmd := exec.Command("stat", append([]string{"-c", statFormat, "--"}, paths...)...)
	cmd.Dir = rel
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("no GNU stat here: %v", err)
	}
	write(t, filepath.Join(rel, ".celeroot/stat"), "celeroot-stat v1 "+sha+"\n"+string(out))
}

// hashLogger puts dir first on PATH, with a sha256sum there that logs the
// check lines it is given before running the real one; it returns the
// host and the log.
func hashLogger(t *testing.T, dir string) (Opener, string) {
	t.Helper()
	real, err := exec.LookPath("sha256sum")
	if err != nil {
		t.Skip("no sha256sum")
	}
	log := filepath.Join(dir, "hashed.log")
	write(t, log, "")
	script := "#!/bin/sh\ntee -a '" + log + "' | exec '" + real + "' \"$@\"\n"
	if err := os.WriteFile(filepath.Join(dir, "sha256sum"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return OpenerFunc(func(ctx context.Context, h *config.Host) (hostexec.Host, error) {
		return &pathHost{Local: hostexec.Local{Name: h.Name}, dir: dir}, nil
	}), log
}

// hashed lists, sorted, the paths the logging sha256sum was asked to check.
func hashed(t *testing.T, log string) []string {
	t.Helper()
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for l := range strings.Lines(string(b)) {
		if _, p, ok := strings.Cut(strings.TrimSuffix(l, "\n"), "  "); ok {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	return paths
}

// TestObserveVerifySkipsUnchangedFiles: files whose identity (inode, size,
// mtime, ctime) is the one recorded in .celeroot/stat are not hashed; the
// changed, chmod'ed and deleted ones are, and are reported as before. A
// missing, corrupt or foreign record makes every file hashed.
func TestObserveVerifySkipsUnchangedFiles(t *testing.T) {
	sha := strings.Repeat("b", 40)
	files := map[string]string{"bin/cl": strings.Repeat("x", 1<<20), "cl.yaml": "cluster: {name: x}\n",
		"tasks/a.sh": "echo a\n", "tasks/b.sh": "echo b\n", "tasks/c.sh": "echo c\n"}
	all := []string{"bin/cl", "cl.yaml", "tasks/a.sh", "tasks/b.sh", "tasks/c.sh"}
	tamper := func(t *testing.T, rel string) {
		write(t, filepath.Join(rel, "tasks/a.sh"), "echo A\n") // same size, new content
		if err := os.Chmod(filepath.Join(rel, "tasks/c.sh"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(filepath.Join(rel, "tasks/b.sh")); err != nil {
			t.Fatal(err)
		}
	}
	tampered := []FileChange{{"tasks/a.sh", FileChanged}, {"tasks/b.sh", FileMissing}}
	h := []*config.Host{{Name: "h", Address: "127.0.0.1"}}
	for _, tc := range []struct {
		name   string
		record func(t *testing.T, rel string) // writes (or not) the record
		tamper bool
		hashed []string
		files  []FileChange
	}{
		{"unchanged: nothing hashed", func(t *testing.T, rel string) { recordStat(t, rel, sha, all) }, false, nil, nil},
		{"changed, chmod'ed and deleted files hashed", func(t *testing.T, rel string) { recordStat(t, rel, sha, all) }, true,
			[]string{"tasks/a.sh", "tasks/b.sh", "tasks/c.sh"}, tampered},
		{"a file left out of the record is hashed", func(t *testing.T, rel string) { recordStat(t, rel, sha, all[1:]) }, false,
			[]string{"bin/cl"}, nil},
		{"no record: everything hashed", func(t *testing.T, rel string) {}, true, all, tampered},
		{"corrupt record: everything hashed", func(t *testing.T, rel string) {
			recordStat(t, rel, sha, all)
			f, err := os.OpenFile(filepath.Join(rel, ".celeroot/stat"), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteString("garbage\n"); err != nil {
				t.Fatal(err)
			}
		}, false, all, nil},
		{"another release's record: everything hashed", func(t *testing.T, rel string) {
			recordStat(t, rel, strings.Repeat("c", 40), all)
		}, false, all, nil},
		{"stat without the format (busybox): everything hashed", func(t *testing.T, rel string) {
			recordStat(t, rel, sha, all)
			fakeTool(t, rel, "stat", "for f; do echo \"1 2 ? ? $f\"; done")
		}, false, all, nil},
		{"xargs without -d (busybox): everything hashed", func(t *testing.T, rel string) {
			recordStat(t, rel, sha, all)
			fakeTool(t, rel, "xargs", "echo \"xargs: unrecognized option: d\" >&2; exit 1")
		}, false, all, nil},
		{"empty record: everything hashed", func(t *testing.T, rel string) {
			write(t, filepath.Join(rel, ".celeroot/stat"), "")
		}, false, all, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			release(t, dir, sha, files, map[string]string{"tasks/link": "a.sh"})
			rel := filepath.Join(dir, "releases", sha)
			tc.record(t, rel)
			if tc.tamper {
				tamper(t, rel)
			}
			op, log := hashLogger(t, filepath.Join(dir, "tools"))
			ob := Observe(t.Context(), op, h, ObserveOptions{TargetDir: dir, Verify: true})[0]
			if !ob.Verified || !reflect.DeepEqual(ob.Files, tc.files) {
				t.Errorf("verified %v files %v (%s); want %v", ob.Verified, ob.Files, ob.VerifyError, tc.files)
			}
			if got := hashed(t, log); !reflect.DeepEqual(got, tc.hashed) {
				t.Errorf("hashed %v, want %v", got, tc.hashed)
			}
		})
	}
}

// fakeTool puts a shell script named name, first on the PATH of the
// observation of release rel (its tools directory, which hashLogger uses).
func fakeTool(t *testing.T, rel, name, script string) {
	t.Helper()
	fake := filepath.Join(rel, "../../tools", name)
	write(t, fake, "#!/bin/sh\n"+script+"\n")
	if err := os.Chmod(fake, 0o755); err != nil {
		t.Fatal(err)
	}
}
