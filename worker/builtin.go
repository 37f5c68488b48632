package worker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/queue"
)

// runBuiltin runs a built-in task. Its params were resolved against the
// built-in's schema; the package and service names are checked again here,
// right before they become an argv element.
func (w *worker) runBuiltin(ctx context.Context, c *release, r *queue.Run, t *config.Task, params map[string]any, timeout time.Duration) (queue.Result, bool) {
	if t.Name == "ping" { // no process; its line goes with its result
		return queue.Result{Lines: []queue.LogLine{{Stream: "stdout", Text: "pong"}}}, false
	}
	// ${secret:…} in a built-in's params is resolved here, on the worker,
	// like a task's; the value is checked against the built-in's schema
	// (builtinCommand) and masked in the command line noted and the output.
	params, _, mask, err := w.resolveSecrets(ctx, c, r, params, nil)
	if err != nil {
		return w.refuse(ctx, r, err), false
	}
	argv, env, err := builtinCommand(t.Name, params, exec.LookPath, systemdRunning())
	if err != nil {
		return w.refuse(ctx, r, fmt.Errorf("%s: %w", t.Name, err)), false
	}
	env = append(append(baseEnv(c), env...), w.contextEnv(c, r, t)...)
	w.appendNote(ctx, r.ID, "running "+mask.String(fmt.Sprint(argv)))
	return w.runSpec(ctx, r, spec{Argv: argv, Dir: "/", Env: env, Stdin: []byte("{}"), Timeout: timeout, Mask: mask})
}

// ErrNoPackageManager: none of the supported package managers is installed.
var ErrNoPackageManager = errors.New("no supported package manager (apt-get, dnf, yum, apk, zypper, pacman) found in PATH")

// ErrNoServiceManager: neither systemctl (with systemd running), service nor
// rc-service is available.
var ErrNoServiceManager = errors.New("no service manager found (systemctl with systemd as init, service, rc-service)")

// lookPathFunc finds an executable in PATH (exec.LookPath).
type lookPathFunc func(string) (string, error)

// builtinCommand returns the argv and extra environment of the install,
// remove and service built-ins, after checking their params against the
// built-in schemas. It never goes through a shell.
func builtinCommand(task string, params map[string]any, look lookPathFunc, systemd bool) ([]string, []string, error) {
	spec, ok := config.Builtins().Tasks.Get(task)
	if !ok {
		return nil, nil, fmt.Errorf("no built-in task %q", task)
	}
	checked := map[string]string{}
	for _, p := range spec.Params.Values() {
		v, err := p.CheckValue(params[p.Name]) // the value itself, secret references resolved
		if err != nil {
			return nil, nil, err
		}
		checked[p.Name] = v.(string)
	}
	switch task {
	case "install", "remove":
		return packageCommand(task, checked["package"], look)
	case "service":
		argv, err := serviceCommand(checked["name"], checked["action"], look, systemd)
		return argv, nil, err
	}
	return nil, nil, fmt.Errorf("built-in task %q runs no command", task)
}

// packageManagers in detection order, with their non-interactive install
// and remove commands (the package name is appended as one argv element).
var packageManagers = []struct {
	bin             string
	install, remove []string
	env             []string
}{
	{"apt-get",
		[]string{"install", "-y", "-q", "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"},
		[]string{"remove", "-y", "-q"},
		[]string{"DEBIAN_FRONTEND=noninteractive", "NEEDRESTART_MODE=a"}},
	{"dnf", []string{"install", "-y"}, []string{"remove", "-y"}, nil},
	{"yum", []string{"install", "-y"}, []string{"remove", "-y"}, nil},
	{"apk", []string{"add", "--no-progress"}, []string{"del", "--no-progress"}, nil},
	{"zypper", []string{"--non-interactive", "install"}, []string{"--non-interactive", "remove"}, nil},
	{"pacman", []string{"-S", "--noconfirm", "--needed"}, []string{"-R", "--noconfirm"}, nil},
}

func packageCommand(task, pkg string, look lookPathFunc) ([]string, []string, error) {
	for _, pm := range packageManagers {
		path, err := look(pm.bin)
		if err != nil {
			continue
		}
		args := pm.install
		if task == "remove" {
			args = pm.remove
		}
		argv := append(append([]string{path}, args...), pkg)
		return argv, pm.env, nil
	}
	return nil, nil, ErrNoPackageManager
}

// serviceCommand picks systemctl when systemd is init, else service, else
// rc-service (OpenRC). enable/disable without systemd use update-rc.d,
// chkconfig or rc-update.
func serviceCommand(name, action string, look lookPathFunc, systemd bool) ([]string, error) {
	if systemd {
		if p, err := look("systemctl"); err == nil {
			return []string{p, "--no-pager", "--no-ask-password", action, name}, nil
		}
	}
	if action == "enable" || action == "disable" {
		return bootCommand(name, action, look)
	}
	if p, err := look("service"); err == nil {
		return []string{p, name, action}, nil
	}
	if p, err := look("rc-service"); err == nil {
		return []string{p, name, action}, nil
	}
	return nil, ErrNoServiceManager
}

// bootCommand enables or disables a service at boot without systemd.
func bootCommand(name, action string, look lookPathFunc) ([]string, error) {
	chk, rc := "on", "add"
	if action == "disable" {
		chk, rc = "off", "del"
	}
	if p, err := look("update-rc.d"); err == nil {
		return []string{p, name, action}, nil
	}
	if p, err := look("chkconfig"); err == nil {
		return []string{p, name, chk}, nil
	}
	if p, err := look("rc-update"); err == nil {
		return []string{p, rc, name}, nil
	}
	return nil, fmt.Errorf("%s %s: %w", action, name, ErrNoServiceManager)
}

// systemdRunning reports whether systemd is PID 1 (sd_booted's test).
func systemdRunning() bool {
	fi, err := os.Stat("/run/systemd/system")
	return err == nil && fi.IsDir()
}
