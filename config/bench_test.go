package config

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkLoadExample measures loading and validating examples/fleet (the
// cost every cl command pays before it does anything).
func BenchmarkLoadExample(b *testing.B) {
	for b.Loop() {
		if _, diags, err := Load(Options{Path: "../examples/fleet/cl.yaml"}); err != nil || diags.HasErrors() {
			b.Fatal(err, diags)
		}
	}
}

// BenchmarkLoad1000Hosts measures a large fleet: 1,000 hosts, 10 roles,
// 100 schedules.
func BenchmarkLoad1000Hosts(b *testing.B) {
	var s strings.Builder
	s.WriteString("hosts:\n")
	for i := range 1000 {
		fmt.Fprintf(&s, "  h%d:\n    role: r%d\n    address: 10.0.%d.%d\n    tags: {rack: r%d}\n", i, i%10, i/250, i%250+1, i%20)
	}
	s.WriteString("workers:\n")
	for i := range 10 {
		fmt.Fprintf(&s, "  r%d: {tasks: [webmod]}\n", i)
	}
	s.WriteString("schedules:\n")
	for i := range 100 {
		fmt.Fprintf(&s, "  s%d: {cron: '%d * * * *', task: hello, params: {n: %d}, targets: [{tags: {rack: r%d}}]}\n", i, i%60, i, i%20)
	}
	dir := b.TempDir()
	path := dir + "/cl.yaml"
	writeFiles(b, dir, s.String())
	b.ResetTimer()
	for b.Loop() {
		if _, diags, err := Load(Options{Path: path}); err != nil || diags.HasErrors() {
			b.Fatal(err, diags)
		}
	}
}

func writeFiles(b *testing.B, dir, clYAML string) {
	b.Helper()
	if err := osWrite(dir+"/cl.yaml", clYAML); err != nil {
		b.Fatal(err)
	}
	for name, body := range testModules {
		if err := osWrite(dir+"/tasks/"+name, body); err != nil {
			b.Fatal(err)
		}
	}
}
