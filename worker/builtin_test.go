package worker

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/queue"
)

// fakeLook finds only the named programs, in /fake.
func fakeLook(names ...string) lookPathFunc {
	return func(name string) (string, error) {
		for _, n := range names {
			if n == name {
				return "/fake/" + name, nil
			}
		}
		return "", errors.New("not found")
	}
}

func TestBuiltinCommand(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		task    string
		params  map[string]any
		found   []string
		systemd bool
		argv    string
		env     string
		err     string
	}{
		{"apt install", "install", map[string]any{"package": "nginx"}, []string{"apt-get", "dnf"}, false,
			"/fake/apt-get install -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold nginx",
			"DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a", ""},
		{"apt version pin", "install", map[string]any{"package": "nginx=1.24.0-2"}, []string{"apt-get"}, false,
			"/fake/apt-get install -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold nginx=1.24.0-2", "DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a", ""},
		{"dnf remove", "remove", map[string]any{"package": "httpd"}, []string{"dnf", "yum"}, false, "/fake/dnf remove -y httpd", "", ""},
		{"yum", "install", map[string]any{"package": "httpd"}, []string{"yum"}, false, "/fake/yum install -y httpd", "", ""},
		{"apk", "install", map[string]any{"package": "nginx"}, []string{"apk"}, false, "/fake/apk add --no-progress nginx", "", ""},
		{"zypper", "remove", map[string]any{"package": "nginx"}, []string{"zypper"}, false, "/fake/zypper --non-interactive remove nginx", "", ""},
		{"pacman", "install", map[string]any{"package": "nginx"}, []string{"pacman"}, false, "/fake/pacman -S --noconfirm --needed nginx", "", ""},
		{"none", "install", map[string]any{"package": "nginx"}, nil, false, "", "", "no supported package manager"},
		{"shell injection", "install", map[string]any{"package": "nginx; rm -rf /"}, []string{"apt-get"}, false, "", "", "does not match the pattern"},
		{"option injection", "remove", map[string]any{"package": "--purge"}, []string{"apt-get"}, false, "", "", "does not match the pattern"},
		{"not a string", "install", map[string]any{"package": []any{"a"}}, []string{"apt-get"}, false, "", "", "expected a string"},
		{"missing", "install", nil, []string{"apt-get"}, false, "", "", "expected a string"},
		{"systemd", "service", map[string]any{"name": "nginx", "action": "restart"}, []string{"systemctl", "service"}, true,
			"/fake/systemctl --no-pager --no-ask-password restart nginx", "", ""},
		{"sysv", "service", map[string]any{"name": "nginx", "action": "reload"}, []string{"systemctl", "service"}, false, "/fake/service nginx reload", "", ""},
		{"openrc", "service", map[string]any{"name": "nginx", "action": "stop"}, []string{"rc-service"}, false, "/fake/rc-service nginx stop", "", ""},
		{"enable sysv", "service", map[string]any{"name": "nginx", "action": "enable"}, []string{"service", "update-rc.d"}, false, "/fake/update-rc.d nginx enable", "", ""},
		{"enable openrc", "service", map[string]any{"name": "nginx", "action": "disable"}, []string{"rc-service", "rc-update"}, false, "/fake/rc-update del nginx", "", ""},
		{"bad action", "service", map[string]any{"name": "nginx", "action": "rm"}, []string{"systemctl"}, true, "", "", "is not one of"},
		{"bad name", "service", map[string]any{"name": "a b", "action": "stop"}, []string{"systemctl"}, true, "", "", "does not match"},
		{"no manager", "service", map[string]any{"name": "nginx", "action": "stop"}, nil, false, "", "", "no service manager"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			argv, env, err := builtinCommand(c.task, c.params, fakeLook(c.found...), c.systemd)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q (argv %q)", err, c.err, argv)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(argv, " "); got != c.argv {
				t.Errorf("argv\n got %s\nwant %s", got, c.argv)
			}
			if got := strings.Join(env, " "); got != c.env {
				t.Errorf("env %q, want %q", got, c.env)
			}
		})
	}
}

// fakeManager is a package manager script recording its argv and
// DEBIAN_FRONTEND, one call per line.
const fakeManager = `#!/bin/sh
echo "$(basename "$0") $* frontend=$DEBIAN_FRONTEND" >> "$FAKE_PM_LOG"
echo "fake install of $*"
`

// TestInstallThroughDetectedPackageManager runs the built-ins with a fake
// apt-get first in PATH. Not parallel: it sets PATH.
func TestInstallThroughDetectedPackageManager(t *testing.T) {
	bin := t.TempDir()
	calls := filepath.Join(t.TempDir(), "calls")
	if err := os.WriteFile(filepath.Join(bin, "apt-get"), []byte(fakeManager), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("FAKE_PM_LOG", calls)

	f := newFixture(t, roleOpts{})
	f.start(nil)
	hostile := f.enqueue("install", "builtin", map[string]any{"package": "nginx; rm -rf /"}, nil)
	r := f.wait(10*time.Second, hostile)[0]
	if r.State != queue.StateFailed || !strings.Contains(r.Reason, "does not match the pattern") {
		t.Errorf("hostile install: %s %q; want failed, pattern", r.State, r.Reason)
	}
	if _, err := os.Stat(calls); !os.IsNotExist(err) {
		b, _ := os.ReadFile(calls)
		t.Fatalf("the package manager ran for a hostile name: %q", b)
	}
	install := f.enqueue("install", "builtin", map[string]any{"package": "nginx"}, nil)
	remove := f.enqueue("remove", "builtin", map[string]any{"package": "nginx"}, nil)
	for _, r := range f.wait(10*time.Second, install, remove) {
		if r.State != queue.StateSucceeded {
			t.Errorf("%s: %s %q", r.Task, r.State, r.Reason)
		}
	}
	b, err := os.ReadFile(calls)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"apt-get install -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold nginx frontend=noninteractive",
		"apt-get remove -y -q nginx frontend=noninteractive",
	}
	if got := strings.Split(strings.TrimSpace(string(b)), "\n"); !reflect.DeepEqual(got, want) {
		t.Errorf("package manager calls\n got %q\nwant %q", got, want)
	}
	if log := f.logText(install); !strings.Contains(log, "stdout: fake install of install") {
		t.Errorf("install log:\n%s", log)
	}
}

// TestBuiltinSecretParams: a built-in's ${secret:…} param is resolved on
// the worker (the package manager gets the value), masked in the run's log,
// kept as the reference in Redis; a resolved value that breaks the
// built-in's pattern is refused without being quoted. Not parallel: it
// sets PATH.
func TestBuiltinSecretParams(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	bin := t.TempDir()
	calls := filepath.Join(t.TempDir(), "calls")
	if err := os.WriteFile(filepath.Join(bin, "apt-get"), []byte(fakeManager), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("FAKE_PM_LOG", calls)
	const pkg, hostile = "planted-pkg-Qx7", "x; rm -rf / planted-Vb3"
	t.Setenv("WT_BSECRET_PKG", pkg)
	t.Setenv("WT_BSECRET_BAD", hostile)
	f := newFixture(t, roleOpts{})
	p := filepath.Join(f.dir, "cl.yaml")
	b, _ := os.ReadFile(p)
	if err := os.WriteFile(p, append(b, "secrets:\n  provider: env\n  path: WT_BSECRET_\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.LoadValid(config.Options{Path: p})
	if err != nil {
		t.Fatal(err)
	}
	f.cfg = cfg
	f.start(nil)
	ok := f.enqueue("install", "builtin", map[string]any{"package": "${secret:PKG}"}, nil)
	bad := f.enqueue("install", "builtin", map[string]any{"package": "${secret:BAD}"}, nil)
	runs := f.wait(15*time.Second, ok, bad)
	if runs[0].State != queue.StateSucceeded {
		t.Fatalf("install: %s %q\n%s", runs[0].State, runs[0].Reason, f.logText(ok))
	}
	if got, _ := os.ReadFile(calls); !strings.Contains(string(got), " "+pkg+" ") {
		t.Errorf("the package manager did not get the resolved name: %q", got)
	}
	log := f.logText(ok)
	if strings.Contains(log, pkg) || !strings.Contains(log, "fake install of install") || !strings.Contains(log, "***") {
		t.Errorf("install log (want the name masked as ***):\n%s", log)
	}
	if r, _ := f.q.Get(context.Background(), ok); r.Params["package"] != "${secret:PKG}" {
		t.Errorf("the run record holds %v, want the reference", r.Params["package"])
	}
	r := runs[1]
	if r.State != queue.StateFailed || !strings.Contains(r.Reason, "does not match the pattern") || strings.Contains(r.Reason, "planted") {
		t.Errorf("hostile secret value: %s %q; want failed naming the pattern, not the value", r.State, r.Reason)
	}
	if got, _ := os.ReadFile(calls); strings.Contains(string(got), "rm -rf") || strings.Contains(f.logText(bad), "planted") {
		t.Errorf("the hostile value reached the package manager or the log: %q", got)
	}
}
