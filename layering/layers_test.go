package layering

import (
	"slices"
	"strings"
	"testing"
)

// layers says which project packages each package may import (its
// subpackages and test helpers aside): imports point down only —
// cmd/cl → devfleet → agent → (sync, reconcile, schedule, worker, deploy, discover) →
// (drift, dispatch) → (hostexec, queue) → config. hostexec and queue never import each
// other; config imports nothing of the project; nothing imports cmd.
var layers = map[string][]string{
	"config":           {},
	"httpserver":       {},
	"hostkeys":         {},
	"termtext":         {},
	"sync":             {"hostkeys"},
	"sync/webhook":     {},
	"deploy/supervise": {},
	"hostexec":         {"config", "hostkeys"},
	"queue":            {"config"},
	"dispatch":         {"config", "queue", "secrets"},
	"drift":            {"config", "hostexec", "queue"},
	"deploy":           {"config", "hostexec", "queue", "drift", "deploy/supervise"},
	"discover":         {"config", "hostexec", "drift"},
	"sshkeys":          {"config", "hostexec"},
	"adhoc":            {"config", "hostexec"},
	"audit":            {"config"},
	"signing":          {"config"},
	"observe":          {"config", "queue", "termtext"},
	"alert":            {"config", "observe"},
	"monitor":          {"agent", "observe", "queue", "termtext"},
	"secrets":          {"config"},
	"worker":           {"config", "queue", "dispatch", "httpserver", "audit", "secrets"},
	"schedule":         {"config", "queue", "dispatch"},
	"reconcile":        {"config", "schedule"},
	"cluster":          {"config", "queue", "sync", "reconcile"},
	"fleet":            {"config", "queue", "deploy"},
	"agent":            {"config", "hostexec", "queue", "dispatch", "drift", "deploy", "fleet", "schedule", "reconcile", "sync", "sync/webhook", "httpserver", "audit", "cluster", "signing", "observe", "alert", "secrets"},
	"dashboard":        {"agent", "config", "queue", "sync/webhook"},
	"devfleet":         {"config", "hostexec", "queue", "queue/embedded", "deploy", "schedule", "reconcile", "sync", "worker", "agent", "httpserver"},
}

// TestLayers fails when a package imports a project package above or
// beside it, or is missing from the table.
func TestLayers(t *testing.T) {
	for _, p := range listPackages(t) {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		if rel == "cmd/cl" || rel == "layering" || strings.HasPrefix(rel, "bench") || strings.HasPrefix(rel, "e2e") {
			continue
		}
		top := rel
		if strings.HasSuffix(rel, "test") || strings.Contains(rel, "/internal/") || rel == "queue/embedded" {
			top = strings.Split(rel, "/")[0] // test helpers and internals belong to their package
		}
		allowed, ok := layers[top]
		if !ok {
			t.Errorf("%s is not in layering's table: add it to layers with the packages it may import", rel)
			continue
		}
		for _, imp := range p.Imports {
			dep, ok := strings.CutPrefix(imp, module+"/")
			if !ok || dep == rel || dep == top || strings.HasPrefix(dep, top+"/") {
				continue
			}
			if strings.HasPrefix(dep, "cmd/") || !slices.Contains(allowed, dep) {
				t.Errorf("%s imports %s: it may import only %v (see docs/development.md, layering)", rel, dep, allowed)
			}
		}
	}
}
