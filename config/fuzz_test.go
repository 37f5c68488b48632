package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzLoad feeds arbitrary bytes to the loader: it must return diagnostics
// or a config, never panic or hang. Run `make fuzz` (go test -fuzz) for more.
func FuzzLoad(f *testing.F) {
	for _, p := range []string{"testdata/seed.yaml", "testdata/errors/cl.yaml", "../examples/fleet/cl.yaml", "skeleton/cl.yaml"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(base))
	f.Add([]byte(registryFixture))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("a: &a {b: *a}\ncluster: *a\n"))
	f.Add([]byte("hosts: {<<: [*x]}\n"))
	f.Add([]byte("cluster:\n  <<: &m {name: x}\n  <<: *m\n"))
	f.Add([]byte("\xef\xbb\xbfcluster: {name: x}\n"))
	f.Add([]byte("? [a, b]\n: c\n"))
	f.Add([]byte("schedules: {s: {cron: '* * * * * * *', params: {x: !!binary aGk=}}}\n"))
	dir := f.TempDir()
	path := filepath.Join(dir, "cl.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Now()
		cfg, diags, err := Load(Options{Path: path, Content: data})
		if err != nil {
			t.Fatalf("Load returned an error instead of diagnostics: %v", err)
		}
		if !diags.HasErrors() && cfg == nil {
			t.Fatal("no config and no errors")
		}
		for _, d := range diags {
			if d.Message == "" {
				t.Fatalf("empty diagnostic: %+v", d)
			}
		}
		if !diags.HasErrors() {
			if _, err := RenderYAML(cfg.Resolved()); err != nil {
				t.Fatalf("valid config does not render: %v", err)
			}
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("took %v", d)
		}
	})
}

func FuzzEdits(f *testing.F) {
	f.Add([]byte(registryFixture), "web9", "10.1.1.1", "k", "v")
	f.Add([]byte(base), "db1", "db1", "env", "yes")
	f.Add([]byte("hosts: {}\n"), "a", "b", "c", "d")
	f.Fuzz(func(t *testing.T, data []byte, name, addr, tk, tv string) {
		// Edits must never panic; when they succeed on valid YAML the result
		// must still parse.
		for _, edit := range []func([]byte) ([]byte, error){
			func(b []byte) ([]byte, error) {
				return AddHost(b, HostSpec{Name: name, Role: "r", Address: addr, Tags: map[string]string{tk: tv}})
			},
			func(b []byte) ([]byte, error) { return RemoveHost(b, name) },
			func(b []byte) ([]byte, error) {
				return UpdateHost(b, HostSpec{Name: name, Address: addr, Tags: map[string]string{tk: tv}})
			},
		} {
			out, err := edit(data)
			if err != nil {
				continue
			}
			if _, err := parseSrc(out); err != nil {
				t.Fatalf("edit produced unparsable YAML: %v\n--- in:\n%s\n--- out:\n%s", err, data, out)
			}
		}
		// A host added to a document without one reads back with its tag.
		out, err := AddHost([]byte("hosts:\n  other: {}\n"), HostSpec{Name: name, Role: "r", Tags: map[string]string{tk: tv}})
		if err != nil || !utf8.ValidString(tv) {
			return
		}
		d, err := parseSrc(out)
		if err != nil {
			t.Fatalf("AddHost produced unparsable YAML: %v\n%s", err, out)
		}
		_, hv := lookup(d.root, "hosts")
		_, host := lookup(hv, name)
		_, tags := lookup(host, "tags")
		if _, v := lookup(tags, tk); v == nil || v.Value != tv {
			t.Fatalf("host %q tag %q=%q not read back:\n%s", name, tk, tv, out)
		}
	})
}
