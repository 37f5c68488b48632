package drift

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/hostexec"
)

// release writes a release whose manifest lists files (path → content) and
// links (path → target), the way deploy writes one.
func release(t *testing.T, dir, sha string, files, links map[string]string) {
	t.Helper()
	rel := filepath.Join(dir, "releases", sha)
	var lines []string
	for p, c := range files {
		write(t, filepath.Join(rel, p), c)
		sum := sha256.Sum256([]byte(c))
		lines = append(lines, fmt.Sprintf("%s\t100644\t%d\t%s", p, len(c), hex.EncodeToString(sum[:])))
	}
	for p, target := range links {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(rel, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, filepath.Join(rel, p)); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(target))
		lines = append(lines, fmt.Sprintf("%s\t120000\t%d\t%s\t%s", p, len(target), hex.EncodeToString(sum[:]), target))
	}
	write(t, filepath.Join(rel, ".celeroot/manifest"), "celeroot-manifest v1 "+sha+"\n"+strings.Join(lines, "\n")+"\n")
	if err := os.Symlink("releases/"+sha, filepath.Join(dir, "current")); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestObserveVerify(t *testing.T) {
	op := OpenerFunc(func(ctx context.Context, h *config.Host) (hostexec.Host, error) {
		return &hostexec.Local{Name: h.Name}, nil
	})
	sha := strings.Repeat("a", 40)
	files := map[string]string{"cl.yaml": "cluster: {name: x}\n", "tasks/a.sh": "echo a\n", "tasks/b.sh": "echo b\n", "bin/cl": "binary"}
	links := map[string]string{"tasks/link": "a.sh"}

	clean := t.TempDir()
	release(t, clean, sha, files, links)
	tampered := t.TempDir()
	release(t, tampered, sha, files, links)
	rel := filepath.Join(tampered, "releases", sha)
	write(t, filepath.Join(rel, "tasks/a.sh"), "echo changed by hand\n")
	if err := os.Remove(filepath.Join(rel, "tasks/b.sh")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(rel, "tasks/extra.sh"), "new\n")
	if err := os.Remove(filepath.Join(rel, "tasks/link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("b.sh", filepath.Join(rel, "tasks/link")); err != nil {
		t.Fatal(err)
	}
	noManifest := target(t, sha)

	h := []*config.Host{{Name: "h", Address: "127.0.0.1"}}
	for _, tc := range []struct {
		name, dir string
		verified  bool
		files     []FileChange
		problem   string
	}{
		{"clean", clean, true, nil, ""},
		{"tampered", tampered, true, []FileChange{{"tasks/a.sh", FileChanged}, {"tasks/b.sh", FileMissing},
			{"tasks/extra.sh", FileAdded}, {"tasks/link", FileChanged}}, ""},
		{"no manifest", noManifest, false, nil, "the release has no manifest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ob := Observe(t.Context(), op, h, ObserveOptions{TargetDir: tc.dir, Verify: true})[0]
			if !ob.Reachable || ob.Current != sha {
				t.Fatalf("observation %+v", ob)
			}
			if ob.Verified != tc.verified || !reflect.DeepEqual(ob.Files, tc.files) || ob.VerifyError != tc.problem {
				t.Errorf("verified %v files %v problem %q; want %v %v %q", ob.Verified, ob.Files, ob.VerifyError, tc.verified, tc.files, tc.problem)
			}
		})
	}
	// IgnoreAdded: the added file is not reported.
	ob := Observe(t.Context(), op, h, ObserveOptions{TargetDir: tampered, Verify: true, IgnoreAdded: true})[0]
	if len(ob.Files) != 3 || slices.ContainsFunc(ob.Files, func(f FileChange) bool { return f.Change == FileAdded }) {
		t.Errorf("IgnoreAdded: %v", ob.Files)
	}
	// Without Verify nothing is read.
	if ob := Observe(t.Context(), op, h, ObserveOptions{TargetDir: tampered})[0]; ob.Verified || ob.Files != nil {
		t.Errorf("unverified observation has files: %+v", ob)
	}
}
