package config

import (
	"strings"
	"testing"
	"testing/fstest"
)

// envFS is a config directory whose cl.yaml declares environment decl
// ("" for none), with overlays for the given names.
func envFS(decl string, overlays map[string]string) fstest.MapFS {
	b := base
	if decl != "" {
		b = strings.Replace(base, "cluster:\n  name: test\n", "cluster:\n  name: test\n  environment: "+decl+"\n", 1)
	}
	fsys := fstest.MapFS{
		"cl.yaml":           {Data: []byte(b)},
		"tasks/webmod.yaml": {Data: []byte(testModules["webmod.yaml"])},
		"tasks/dbmod.yaml":  {Data: []byte(testModules["dbmod.yaml"])},
	}
	for name, text := range overlays {
		fsys["environments/"+name+".yaml"] = &fstest.MapFile{Data: []byte(text)}
	}
	return fsys
}

// TestEnvironmentResolution checks which environment (and overlay) each
// combination of --env, cl.yaml's declaration and overlay files gives.
func TestEnvironmentResolution(t *testing.T) {
	staging := "hosts:\n  web1:\n    address: 10.9.0.1\n"
	for _, c := range []struct {
		name, decl, env string
		overlays        map[string]string
		want, addr      string // environment, web1's address
		err             string // substring of Load's error
	}{
		{name: "none", want: "", addr: "10.0.0.1"},
		{name: "overlay", env: "staging", overlays: map[string]string{"staging": staging}, want: "staging", addr: "10.9.0.1"},
		{name: "alias long to short", env: "development", overlays: map[string]string{"dev": staging}, want: "dev", addr: "10.9.0.1"},
		{name: "alias short to long", env: "prod", overlays: map[string]string{"production": staging}, want: "production", addr: "10.9.0.1"},
		{name: "exact name wins over alias", env: "dev", overlays: map[string]string{"dev": staging, "development": "{}\n"}, want: "dev", addr: "10.9.0.1"},
		{name: "declared, named", decl: "production", env: "production", want: "production", addr: "10.0.0.1"},
		{name: "declared, not named", decl: "production", want: "production", addr: "10.0.0.1"},
		{name: "declared, with its own overlay", decl: "production", overlays: map[string]string{"production": staging}, want: "production", addr: "10.9.0.1"},
		{name: "declared, another named", decl: "production", env: "staging", overlays: map[string]string{"staging": staging}, want: "staging", addr: "10.9.0.1"},
		{name: "unknown", decl: "production", env: "qa", overlays: map[string]string{"staging": staging}, err: "environments/qa.yaml does not exist: create it, or pick another environment (there are: production, staging)"},
		{name: "bad name", env: "../x", err: "use letters, digits"},
	} {
		t.Run(c.name, func(t *testing.T) {
			fsys := envFS(c.decl, c.overlays)
			opts := Options{FS: fsys, Path: "cl.yaml", Env: c.env}
			cfg, diags, err := Load(opts)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("Load: %v, want an error containing %q", err, c.err)
				}
				return
			}
			if err != nil || diags.HasErrors() {
				t.Fatalf("Load: %v %v", err, diags)
			}
			if cfg.Source.Env != c.want || cfg.Cluster.Environment != c.want {
				t.Errorf("environment %q (cluster.environment %q), want %q", cfg.Source.Env, cfg.Cluster.Environment, c.want)
			}
			if got := EnvName(opts); got != c.want {
				t.Errorf("EnvName = %q, want %q", got, c.want)
			}
			if h, _ := cfg.Hosts.Get("web1"); h.Address != c.addr {
				t.Errorf("web1 address %q, want %q", h.Address, c.addr)
			}
		})
	}
}

// TestOverlayDeclaringAnotherEnvironment: an overlay is the environment
// its file names; declaring another one is an error pointing into it.
func TestOverlayDeclaringAnotherEnvironment(t *testing.T) {
	fsys := envFS("production", map[string]string{"staging": "cluster:\n  environment: production\n"})
	_, diags, err := Load(Options{FS: fsys, Path: "cl.yaml", Env: "staging"})
	if err != nil {
		t.Fatal(err)
	}
	if !diags.HasErrors() || !strings.Contains(diags.Errors().Error(), `declares environment "production"`) {
		t.Fatalf("diagnostics: %v", diags)
	}
}

// TestExampleFleetEnvironments: the seed's multi-environment lines name
// environments examples/fleet has.
func TestExampleFleetEnvironments(t *testing.T) {
	for env, want := range map[string]string{"production": "production", "staging": "staging", "development": "dev", "": "production"} {
		cfg, _, err := LoadValid(Options{Path: "../examples/fleet/cl.yaml", Env: env})
		if err != nil {
			t.Fatalf("--env %q: %v", env, err)
		}
		if cfg.Source.Env != want {
			t.Errorf("--env %q: environment %q, want %q", env, cfg.Source.Env, want)
		}
	}
}

// TestInvalidDeclaredEnvironment: a cl.yaml declaring an environment that
// is not a name is a diagnostic at that value (found by FuzzLoad), not an
// error about a --env the user did not give.
func TestInvalidDeclaredEnvironment(t *testing.T) {
	fsys := envFS(`"production n"`, nil)
	cfg, diags, err := Load(Options{FS: fsys, Path: "cl.yaml"})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	errs := diags.Errors()
	if len(errs) != 1 || errs[0].Path != "cluster.environment" || errs[0].Line != 3 || !strings.Contains(errs[0].Message, "is not an environment name") {
		t.Fatalf("diagnostics: %v", diags)
	}
	if cfg.Source.Env != "" || EnvName(Options{FS: fsys, Path: "cl.yaml"}) != "" {
		t.Errorf("environment %q / %q, want none", cfg.Source.Env, EnvName(Options{FS: fsys, Path: "cl.yaml"}))
	}
}
