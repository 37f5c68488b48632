package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// cl runs the command tree in-process and returns stdout, stderr and the
// exit code.
func cl(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), code
}

func initProject(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if _, stderr, code := cl(t, "config", "init", dir); code != 0 {
		t.Fatalf("config init: %d %s", code, stderr)
	}
	return filepath.Join(dir, "cl.yaml")
}

func TestConfigValidateExitCodes(t *testing.T) {
	path := initProject(t)
	if out, _, code := cl(t, "-c", path, "config", "validate"); code != 0 || !strings.Contains(out, "is valid") {
		t.Fatalf("valid config: code %d, %s", code, out)
	}
	data, _ := os.ReadFile(path)
	os.WriteFile(path, bytes.Replace(data, []byte("role: default"), []byte("role: nosuch"), 1), 0o644)
	out, _, code := cl(t, "-c", path, "config", "validate")
	if code != ExitError || !strings.Contains(out, `unknown role "nosuch"`) || !strings.Contains(out, "cl.yaml:") {
		t.Fatalf("invalid config: code %d, %s", code, out)
	}
	out, _, code = cl(t, "-c", path, "-o", "json", "config", "validate")
	var res struct {
		Valid       bool
		Diagnostics []map[string]any
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != ExitError || res.Valid || len(res.Diagnostics) != 1 {
		t.Fatalf("json: code %d err %v %s", code, err, out)
	}
	if d := res.Diagnostics[0]; d["line"] == nil || d["column"] == nil || d["hint"] == nil {
		t.Fatalf("json diagnostic lacks position or hint: %v", d)
	}
	if _, stderr, code := cl(t, "-c", filepath.Join(t.TempDir(), "cl.yaml"), "config", "validate"); code != ExitError || !strings.Contains(stderr, "cl config init") {
		t.Fatalf("missing file: %d %s", code, stderr)
	}
}

// TestConfigValidateSecretReferences: a malformed reference and one
// without a provider fail validation; --secrets fetches each referenced
// secret (env provider here) and names the missing one, never a value.
func TestConfigValidateSecretReferences(t *testing.T) {
	path := initProject(t)
	data, _ := os.ReadFile(path)
	base := string(data)
	write := func(extra string) { os.WriteFile(path, []byte(base+extra), 0o644) }
	write("monitoring:\n  alert_channels:\n    - webhook: \"${secret:hook\"\n    - slack: \"${secret:slack#url}\"\n")
	out, _, code := cl(t, "-c", path, "config", "validate")
	if code != ExitError || !strings.Contains(out, "monitoring.alert_channels[0].webhook: bad secret reference") ||
		!strings.Contains(out, "references secret slack#url but cl.yaml has no secrets.provider") {
		t.Fatalf("bad references: code %d\n%s", code, out)
	}
	t.Setenv("CV_SECRET_hook", "https://hooks.example/planted-Zz9")
	write("secrets: {provider: env, path: CV_SECRET_}\nmonitoring:\n  alert_channels:\n    - webhook: \"${secret:hook}\"\n    - slack: \"${secret:slack#url}\"\n")
	if out, _, code := cl(t, "-c", path, "config", "validate"); code != 0 {
		t.Fatalf("well-formed references, not fetched: code %d\n%s", code, out)
	}
	out, _, code = cl(t, "-c", path, "config", "validate", "--secrets")
	if code != ExitError || !strings.Contains(out, "alert_channels[1].slack: secret slack#url") || strings.Contains(out, "alert_channels[0]") || strings.Contains(out, "planted") {
		t.Fatalf("--secrets: code %d\n%s", code, out)
	}
}

func TestConfigShowMasksSecrets(t *testing.T) {
	path := initProject(t)
	data, _ := os.ReadFile(path)
	os.WriteFile(path, bytes.Replace(data, []byte("redis://127.0.0.1:6379/0"), []byte("redis://:hunter2@127.0.0.1:6379/0"), 1), 0o644)
	out, _, code := cl(t, "-c", path, "config", "show")
	if code != 0 || strings.Contains(out, "hunter2") || !strings.Contains(out, "redis://:****@127.0.0.1:6379/0") {
		t.Fatalf("show: %d\n%s", code, out)
	}
	out, _, _ = cl(t, "-c", path, "-o", "json", "config", "show")
	if strings.Contains(out, "hunter2") {
		t.Fatal("json show leaks the password")
	}
	out, _, code = cl(t, "-c", path, "--env", "staging", "config", "show")
	if code != 0 || !strings.Contains(out, "name: myfleet-staging") {
		t.Fatalf("show --env staging: %d\n%s", code, out)
	}
}

func TestConfigListings(t *testing.T) {
	path := initProject(t)
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"config", "workers"}, []string{"default_tasks", "system", "local"}},
		{[]string{"config", "schedules"}, []string{"disk_usage", "*/15 * * * *", "UTC", "local"}},
		{[]string{"config", "hosts"}, []string{"local", "127.0.0.1", "environment=development"}},
		{[]string{"host", "list"}, []string{"local", "127.0.0.1"}},
	} {
		out, stderr, code := cl(t, append([]string{"-c", path}, c.args...)...)
		if code != 0 {
			t.Fatalf("%v: %d %s", c.args, code, stderr)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: %q missing from\n%s", c.args, w, out)
			}
		}
	}
	out, _, _ := cl(t, "-c", path, "-o", "json", "config", "schedules")
	var rows []struct {
		Name string
		Next []string
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 1 || len(rows[0].Next) != 3 {
		t.Fatalf("schedules json: %v %s", err, out)
	}
}

func TestHostRegistryCommands(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed (apt-get install git)")
	}
	path := initProject(t)
	dir := filepath.Dir(path)
	git := func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	git("add", ".")
	git("commit", "-q", "-m", "init")

	out, stderr, code := cl(t, "-c", path, "host", "add", "web3", "--role", "default", "--address", "10.0.0.3", "--port", "2222", "--tag", "env=prod", "--no-deploy")
	if code != 0 || !strings.Contains(out, "committed") {
		t.Fatalf("host add: %d %s %s", code, out, stderr)
	}
	if msg := git("log", "-1", "--format=%s"); msg != "cl: add host web3 (role default)" {
		t.Fatalf("commit message %q", msg)
	}
	_, stderr, code = cl(t, "-c", path, "host", "add", "web4", "--role", "nosuch", "--no-deploy")
	if code != ExitError || !strings.Contains(stderr, `unknown role "nosuch"`) {
		t.Fatalf("add with unknown role: %d %s", code, stderr)
	}
	_, stderr, code = cl(t, "-c", path, "host", "add", "web4", "--role", "default", "--address", "10.0.0.3", "--port", "2222", "--no-deploy")
	if code != ExitError || !strings.Contains(stderr, "also used by host web3") {
		t.Fatalf("add with duplicate address: %d %s", code, stderr)
	}
	if _, stderr, code = cl(t, "-c", path, "host", "update", "web3", "--address", "10.0.0.4", "--untag", "env", "--no-commit"); code != 0 {
		t.Fatalf("host update: %d %s", code, stderr)
	}
	out, _, _ = cl(t, "-c", path, "-o", "json", "host", "list")
	if !strings.Contains(out, `"10.0.0.4"`) || strings.Contains(out, `"prod"`) {
		t.Fatalf("update not applied: %s", out)
	}
	if st := git("status", "--porcelain"); st != "M cl.yaml" {
		t.Fatalf("--no-commit: status %q", st)
	}
	git("commit", "-qam", "update")
	if _, stderr, code = cl(t, "-c", path, "host", "remove", "web3", "--no-stop"); code != 0 {
		t.Fatalf("host remove: %d %s", code, stderr)
	}
	if msg := git("log", "-1", "--format=%s"); msg != "cl: remove host web3" {
		t.Fatalf("commit message %q", msg)
	}
	if _, stderr, code = cl(t, "-c", path, "host", "remove", "web3", "--no-stop"); code != ExitError || !strings.Contains(stderr, `no host "web3"`) {
		t.Fatalf("remove twice: %d %s", code, stderr)
	}
}

func TestVersionAndCompletion(t *testing.T) {
	if out, _, code := cl(t, "version"); code != 0 || !strings.HasPrefix(out, "cl ") {
		t.Fatalf("version: %d %s", code, out)
	}
	for _, sh := range []string{"bash", "zsh", "fish"} {
		out, _, code := cl(t, "completion", sh)
		flag := "--config"
		if sh == "fish" {
			flag = "-l config"
		}
		if code != 0 || !strings.Contains(out, "schedules") || !strings.Contains(out, flag) {
			t.Fatalf("completion %s: %d\n%s", sh, code, out)
		}
	}
	if _, err := exec.LookPath("bash"); err == nil {
		out, _, _ := cl(t, "completion", "bash")
		script := out + "\nCOMP_WORDS=(cl config sch); COMP_CWORD=2; _cl; echo \"${COMPREPLY[@]}\"\n"
		res, err := exec.Command("bash", "-c", script).CombinedOutput()
		if err != nil || strings.TrimSpace(string(res)) != "schedules" {
			t.Fatalf("bash completion of 'cl config sch': %v %q", err, res)
		}
	}
	if _, stderr, code := cl(t, "completion", "tcsh"); code != ExitError || stderr == "" {
		t.Fatalf("bad shell: %d %s", code, stderr)
	}
}

func TestUnknownCommandIsOneLineError(t *testing.T) {
	_, stderr, code := cl(t, "confg")
	if code != ExitError || !strings.Contains(stderr, "confg") {
		t.Fatalf("%d %s", code, stderr)
	}
}

func TestConfigEdit(t *testing.T) {
	path := initProject(t)
	before, _ := os.ReadFile(path)
	// A valid edit through a scripted editor replaces the file.
	editor := filepath.Join(t.TempDir(), "ed.sh")
	os.WriteFile(editor, []byte("#!/bin/sh\nsed -i 's/concurrency: 2/concurrency: 3/' \"$1\"\n"), 0o755)
	out, stderr, code := cl(t, "-c", path, "config", "edit", "--editor", editor)
	if code != 0 || !strings.Contains(out, "updated") {
		t.Fatalf("valid edit: %d %s %s", code, out, stderr)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(after, bytes.Replace(before, []byte("concurrency: 2"), []byte("concurrency: 3"), 1)) {
		t.Fatal("valid edit not applied exactly")
	}
	// An invalid edit without a terminal: file untouched, the problems
	// printed once, the copy kept outside the work tree and named.
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	os.WriteFile(editor, []byte("#!/bin/sh\nsed -i 's/role: default/role: nosuch/' \"$1\"\n"), 0o755)
	_, stderr, code = cl(t, "-c", path, "config", "edit", "--editor", editor)
	kept, _ := filepath.Glob(filepath.Join(state, "celeroot", "rejected", "cl.yaml.rejected-*"))
	if code != ExitError || strings.Count(stderr, `hosts.local.role: unknown role "nosuch"`) != 1 || len(kept) != 1 || !strings.Contains(stderr, kept[0]) {
		t.Fatalf("invalid edit: %d, kept %v:\n%s", code, kept, stderr)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, after) {
		t.Fatal("invalid edit changed the file")
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "cl.yaml.*")); len(left) != 0 {
		t.Fatalf("left in the work tree: %v", left)
	}
	// No change.
	os.WriteFile(editor, []byte("#!/bin/sh\ntrue\n"), 0o755)
	if out, _, code := cl(t, "-c", path, "config", "edit", "--editor", editor); code != 0 || !strings.Contains(out, "no changes") {
		t.Fatalf("unchanged edit: %d %s", code, out)
	}
}

func TestNoArgumentsPrintsHelp(t *testing.T) {
	out, stderr, code := cl(t)
	if code != ExitOK || !strings.Contains(out, "Usage: cl <command>") || !strings.Contains(out, "config") || strings.Contains(stderr, "expected one of") {
		t.Fatalf("cl: %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
}

func TestVersionFlag(t *testing.T) {
	flag, _, code := cl(t, "--version")
	cmd, _, _ := cl(t, "version")
	if code != ExitOK || flag != cmd || !strings.HasPrefix(flag, "cl ") {
		t.Fatalf("cl --version: %d %q; cl version: %q", code, flag, cmd)
	}
}

// TestCountsAgreeInNumber: "1 host", not "1 hosts" (the skeleton has one of
// each), and plural otherwise.
func TestCountsAgreeInNumber(t *testing.T) {
	path := initProject(t)
	out, _, code := cl(t, "-c", path, "config", "validate")
	if code != 0 || !strings.Contains(out, "is valid: 1 host, 1 role, 1 schedule, 1 task module\n") {
		t.Fatalf("config validate: %d %q", code, out)
	}
	for n, want := range map[int]string{0: "0 hosts", 1: "1 host", 2: "2 hosts"} {
		if got := plural(n, "host"); got != want {
			t.Errorf("plural(%d, host) = %q, want %q", n, got, want)
		}
	}
}

// TestNoPasswordInAnyOutput: passwords in every URL form, parseable or not,
// appear neither in config show (text, JSON), nor in validation messages,
// nor in the connect error of a command that needs Redis.
func TestNoPasswordInAnyOutput(t *testing.T) {
	path := initProject(t)
	data, _ := os.ReadFile(path)
	for _, url := range []string{
		"redis://:S3cret@127.0.0.1:1/0",
		"redis://:S3c#ret@127.0.0.1:1/0",
		"redis://:S3c%ret@127.0.0.1:1/0",
		"redis://:S3c ret@127.0.0.1:1/0",
		"redis://:S3c/ret@127.0.0.1:1/0",
		"redis://:S3cret@127.0.0.1:x/0",
		"redis-sentinel://u:S3cret@127.0.0.1:1/0?master=m&sentinel_password=S3cret",
		"redis-sentinel://127.0.0.1:1/0?master=m&sentinel_password=S3c%zzret",
	} {
		if err := os.WriteFile(path, bytes.Replace(data, []byte("redis://127.0.0.1:6379/0"), []byte("'"+url+"'"), 1), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"config", "show"}, {"-o", "json", "config", "show"}, {"config", "validate"}, {"-o", "json", "config", "validate"}, {"task", "status"}} {
			out, stderr, _ := cl(t, append([]string{"-c", path}, args...)...)
			if strings.Contains(out+stderr, "S3c") || strings.Contains(out+stderr, "ret@") {
				t.Errorf("url %s: cl %v prints the password:\n%s%s", url, args, out, stderr)
			}
		}
	}
}
