package signing

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// needTool skips when a real tool the interop tests drive is missing.
func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s is not installed (apt-get install openssh-client git): %v", name, err)
	}
}

// run runs a command in dir with stdin and fails the test on error.
func run(t *testing.T, dir string, stdin []byte, env []string, name string, args ...string) string {
	t.Helper()
	out, err := runErr(dir, stdin, env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func runErr(dir string, stdin []byte, env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// keygen makes a key with ssh-keygen and returns its private key path and
// its public key line. extra adds flags (-b 3072, -m PEM).
func keygen(t *testing.T, dir, name, typ string, extra ...string) (string, string) {
	t.Helper()
	needTool(t, "ssh-keygen")
	path := filepath.Join(dir, name)
	args := append([]string{"-q", "-t", typ, "-N", "", "-C", name, "-f", path}, extra...)
	run(t, dir, nil, nil, "ssh-keygen", args...)
	pub, err := os.ReadFile(path + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return path, strings.TrimSpace(string(pub))
}

// configDir writes a small config tree.
func configDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	write(t, dir, "cl.yaml", "cluster:\n  name: demo\n", 0o644)
	write(t, dir, "tasks/web.yaml", "tasks:\n  hello:\n    run: [echo, hi]\n", 0o644)
	write(t, dir, "tasks/deploy.sh", "#!/bin/sh\necho deploy\n", 0o755)
	write(t, dir, "environments/prod.yaml", "cluster:\n  environment: prod\n", 0o644)
	write(t, dir, "README.md", "not signed\n", 0o644)
	return dir
}

func write(t *testing.T, dir, rel, content string, mode os.FileMode) {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}
