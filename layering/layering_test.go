package layering

import (
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/celeroot/celeroot"

// owners maps an outside library (an import path prefix) to the project
// packages (with the packages under them) allowed to import it. Benchmarks
// (bench/...) are exempt: they measure the libraries directly.
var owners = map[string][]string{
	"github.com/redis/go-redis/": {"queue"},
	"github.com/go-git/":         {"sync"},
}

type pkg struct {
	ImportPath string
	Imports    []string // non-test imports only
}

// TestOwnersOfOutsideSystems fails when a non-test package imports an
// owned library without being its owner.
func TestOwnersOfOutsideSystems(t *testing.T) {
	pkgs := listPackages(t)
	if len(pkgs) < 10 {
		t.Fatalf("go list found %d packages: want the whole module", len(pkgs))
	}
	for _, p := range pkgs {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		if rel == "bench" || strings.HasPrefix(rel, "bench/") {
			continue
		}
		for _, imp := range p.Imports {
			for lib, allowed := range owners {
				if strings.HasPrefix(imp+"/", lib) && !ownedBy(rel, allowed) {
					t.Errorf("%s imports %s: only %v may; use their API (or a small interface they implement) instead", p.ImportPath, imp, allowed)
				}
			}
		}
	}
}

func ownedBy(rel string, allowed []string) bool {
	for _, a := range allowed {
		if rel == a || strings.HasPrefix(rel, a+"/") {
			return true
		}
	}
	return false
}

// TestOwnedBy checks the rule's matching (a package under an owner is
// owned; a package whose name merely starts like the owner's is not).
func TestOwnedBy(t *testing.T) {
	for _, c := range []struct {
		rel  string
		want bool
	}{{"queue", true}, {"queue/queuetest", true}, {"queue/embedded", true}, {"queuex", false}, {"schedule", false}, {"deploy", false}} {
		if got := ownedBy(c.rel, []string{"queue"}); got != c.want {
			t.Errorf("ownedBy(%q) = %v, want %v", c.rel, got, c.want)
		}
	}
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-json", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list ./... in %s: %v\n%s", root, err, stderr.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}
