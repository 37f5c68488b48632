package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testModules are the task modules most tests load.
var testModules = map[string]string{
	"webmod.yaml": `tasks:
  hello:
    description: say hello
    params:
      n: {type: int, default: 1}
      name: {type: string, pattern: '[a-z]+'}
      loud: {type: bool}
    command: ["/bin/echo", "hello"]
`,
	"dbmod.yaml": `tasks:
  backup:
    command: ["/bin/true"]
    params:
      dest: {type: string, required: true}
`,
}

// writeProject writes cl.yaml and tasks/ files into a temp dir and returns
// the cl.yaml path.
func writeProject(t *testing.T, clYAML string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "cl.yaml")
	if err := os.WriteFile(path, []byte(clYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if !strings.Contains(name, "/") {
			p = filepath.Join(dir, "tasks", name)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, ".sh") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func load(t *testing.T, clYAML string, files map[string]string) (*Config, Diagnostics) {
	t.Helper()
	if files == nil {
		files = testModules
	}
	path := writeProject(t, clYAML, files)
	cfg, diags, err := Load(Options{Path: path})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return cfg, diags
}

// base is a small valid configuration the validation cases start from.
const base = `cluster:
  name: test
hosts:
  web1:
    role: web
    address: 10.0.0.1
    tags: {env: prod}
  db1:
    role: db
    address: 10.0.0.2
    tags: {backup: required}
workers:
  web:
    queue: web_q
    tasks: [webmod]
  db:
    queue: db_q
    tasks: [dbmod]
schedules:
  s1:
    cron: "0 2 * * *"
    task: hello
    targets:
      - role: web
`

func osWrite(path, body string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(body), 0o644)
}
