package config

import (
	"os"
	"strings"
	"testing"
	"testing/fstest"
)

// TestLoadFromFS loads a configuration that lives in a subdirectory of a
// file system (as the tree of a commit does), with its tasks/ and an
// overlay, and checks that diagnostics name the files inside it.
func TestLoadFromFS(t *testing.T) {
	fsys := fstest.MapFS{
		"fleet/cl.yaml":                   {Data: []byte(base)},
		"fleet/tasks/webmod.yaml":         {Data: []byte(testModules["webmod.yaml"])},
		"fleet/tasks/dbmod.yaml":          {Data: []byte(testModules["dbmod.yaml"])},
		"fleet/environments/staging.yaml": {Data: []byte("cluster:\n  description: staging\n")},
		"README.md":                       {Data: []byte("not part of the config")},
	}
	cfg, diags, err := Load(Options{FS: fsys, Path: "fleet/cl.yaml", Env: "staging"})
	if err != nil {
		t.Fatal(err)
	}
	if diags.HasErrors() {
		t.Fatalf("diagnostics: %v", diags)
	}
	if cfg.Cluster.Description != "staging" {
		t.Errorf("overlay not applied: description %q", cfg.Cluster.Description)
	}
	if got := strings.Join(cfg.Modules.Keys(), ","); got != "dbmod,webmod" && got != "webmod,dbmod" {
		t.Errorf("modules: %s", got)
	}
	if m, _ := cfg.Modules.Get("webmod"); m.File != "fleet/tasks/webmod.yaml" {
		t.Errorf("module file %q, want fleet/tasks/webmod.yaml", m.File)
	}
	if cfg.Source.TasksDir != "fleet/tasks" || cfg.Source.EnvPath != "fleet/environments/staging.yaml" {
		t.Errorf("source: %+v", cfg.Source)
	}

	fsys["fleet/tasks/webmod.yaml"] = &fstest.MapFile{Data: []byte("tasks:\n  hello:\n    command: [\"/bin/true\"]\n    bogus: 1\n")}
	_, diags, err = Load(Options{FS: fsys, Path: "fleet/cl.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	if !diags.HasErrors() || !strings.Contains(diags.Errors().Error(), "fleet/tasks/webmod.yaml:4:") {
		t.Errorf("want an error at fleet/tasks/webmod.yaml:4:col, got %v", diags)
	}
	if _, _, err := Load(Options{FS: fsys, Path: "other/cl.yaml"}); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("missing cl.yaml: %v", err)
	}
	if _, _, err := Load(Options{FS: fsys, Path: "/abs/cl.yaml"}); err == nil || !strings.Contains(err.Error(), "slash-separated") {
		t.Errorf("absolute path in an FS: %v", err)
	}
}

// TestScriptChecksInFS checks task scripts inside a file system: present,
// executable, and links that stay inside tasks/.
func TestScriptChecksInFS(t *testing.T) {
	mod := "tasks:\n  hello:\n    script: web/run.sh\n"
	cases := []struct {
		name  string
		files fstest.MapFS
		want  string // "" = valid
	}{
		{"executable", fstest.MapFS{"tasks/web/run.sh": {Data: []byte("#!/bin/sh\n"), Mode: 0o755}}, ""},
		{"link inside tasks", fstest.MapFS{
			"tasks/web/run.sh": {Data: []byte("../lib/run.sh"), Mode: os.ModeSymlink},
			"tasks/lib/run.sh": {Data: []byte("#!/bin/sh\n"), Mode: 0o755}}, ""},
		{"missing", fstest.MapFS{}, "does not exist in tasks"},
		{"not executable", fstest.MapFS{"tasks/web/run.sh": {Data: []byte("#!/bin/sh\n"), Mode: 0o644}}, "is not executable"},
		{"link out of tasks", fstest.MapFS{
			"tasks/web/run.sh": {Data: []byte("../../run.sh"), Mode: os.ModeSymlink},
			"run.sh":           {Data: []byte("#!/bin/sh\n"), Mode: 0o755}}, "points outside tasks"},
		{"link out of the tree", fstest.MapFS{"tasks/web/run.sh": {Data: []byte("../../../etc/passwd"), Mode: os.ModeSymlink}}, "points outside tasks"},
		{"absolute link", fstest.MapFS{"tasks/web/run.sh": {Data: []byte("/bin/true"), Mode: os.ModeSymlink}}, "points outside tasks"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fsys := tc.files
			fsys["cl.yaml"] = &fstest.MapFile{Data: []byte(strings.Replace(base, "tasks: [webmod]", "tasks: [web]", 1))}
			fsys["tasks/web.yaml"] = &fstest.MapFile{Data: []byte(mod)}
			fsys["tasks/dbmod.yaml"] = &fstest.MapFile{Data: []byte(testModules["dbmod.yaml"])}
			_, diags, err := Load(Options{FS: fsys, Path: "cl.yaml"})
			if err != nil {
				t.Fatal(err)
			}
			errs := diags.Errors()
			if tc.want == "" {
				if len(errs) > 0 {
					t.Fatalf("want valid, got %v", errs)
				}
				return
			}
			if !strings.Contains(errs.Error(), tc.want) {
				t.Fatalf("want %q, got %v", tc.want, diags)
			}
		})
	}
}
