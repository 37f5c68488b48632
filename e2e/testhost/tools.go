package testhost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
)

// sshdPath is the only sshd the harness runs: Debian's OpenSSH server.
const sshdPath = "/usr/sbin/sshd"

// tools are the absolute paths of the programs the harness runs.
type tools struct {
	ip, sshd, keygen, nsenter, unshare string
}

// toolSpec names a program, where to look besides PATH, and its package.
type toolSpec struct {
	name, pkg string
	extra     []string
}

var toolSpecs = []toolSpec{
	{name: "ip", pkg: "iproute2", extra: []string{"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip"}},
	{name: "ssh-keygen", pkg: "openssh-client", extra: []string{"/usr/bin/ssh-keygen"}},
	{name: "nsenter", pkg: "util-linux", extra: []string{"/usr/bin/nsenter"}},
	{name: "unshare", pkg: "util-linux", extra: []string{"/usr/bin/unshare"}},
}

// findTools resolves every program or names the packages to install.
func findTools() (tools, error) {
	found := map[string]string{}
	var missing, pkgs []string
	if isExecutable(sshdPath) {
		found["sshd"] = sshdPath
	} else {
		missing, pkgs = append(missing, sshdPath), append(pkgs, "openssh-server")
	}
	for _, s := range toolSpecs {
		if p := lookTool(s.name, s.extra); p != "" {
			found[s.name] = p
			continue
		}
		missing, pkgs = append(missing, s.name), append(pkgs, s.pkg)
	}
	if len(missing) > 0 {
		return tools{}, fmt.Errorf("testhost: missing %s; install with: apt-get install -y %s",
			strings.Join(missing, ", "), strings.Join(pkgs, " "))
	}
	return tools{ip: found["ip"], sshd: found["sshd"], keygen: found["ssh-keygen"],
		nsenter: found["nsenter"], unshare: found["unshare"]}, nil
}

// ipTool returns the ip binary or "ip" (for teardown paths that must not fail early).
func ipTool() string {
	if p := lookTool("ip", toolSpecs[0].extra); p != "" {
		return p
	}
	return "ip"
}

func lookTool(name string, extra []string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, p := range extra {
		if isExecutable(p) {
			return p
		}
	}
	return ""
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// SkipReason says why this machine cannot run test hosts, with what to
// install, or "" when it can. Only missing root, sshd or ip count: anything
// else missing is a real failure of the environment.
func SkipReason() string {
	var why []string
	if os.Geteuid() != 0 {
		why = append(why, "must run as root (network namespaces, bind mounts, sshd on port 22)")
	}
	if !isExecutable(sshdPath) {
		why = append(why, sshdPath+" is missing: apt-get install -y openssh-server")
	}
	if lookTool("ip", toolSpecs[0].extra) == "" {
		why = append(why, "ip is missing: apt-get install -y iproute2")
	}
	if len(why) == 0 {
		return ""
	}
	return "testhost: " + strings.Join(why, "; ")
}

// run executes a program and returns its combined output; the error names
// the command and carries its output.
func run(ctx context.Context, stdin string, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s: %w: %s", describeCmd(name, args), err, bytes.TrimSpace(out))
	}
	return out, nil
}

// describeCmd renders a command line for an error message, shortened.
func describeCmd(name string, args []string) string {
	s := strings.Join(append([]string{name}, args...), " ")
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}

// ipBatch runs ip commands, one per line, in the root namespace (netns "")
// or inside netns. With force, ip goes on after a failing line.
func ipBatch(ctx context.Context, ip, netns string, force bool, lines []string) error {
	if len(lines) == 0 {
		return nil
	}
	var args []string
	if netns != "" {
		args = append(args, "-n", netns)
	}
	if force {
		args = append(args, "-force")
	}
	args = append(args, "-batch", "-")
	_, err := run(ctx, strings.Join(lines, "\n")+"\n", ip, args...)
	return err
}

// forEach runs fn for every item with at most limit running at once and
// joins the errors. Items not yet started when ctx ends are skipped.
func forEach[T any](ctx context.Context, items []T, limit int, fn func(T) error) error {
	sem := make(chan struct{}, max(limit, 1))
	errs := make([]error, len(items))
	var wg sync.WaitGroup
	for i, it := range items {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			errs[i] = ctx.Err()
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = fn(it)
		}()
	}
	wg.Wait()
	return joinFew(errs, 3)
}

// joinFew joins the first n non-nil errors and counts the rest.
func joinFew(errs []error, n int) error {
	var keep []error
	more := 0
	for _, err := range errs {
		switch {
		case err == nil:
		case len(keep) < n:
			keep = append(keep, err)
		default:
			more++
		}
	}
	if more > 0 {
		keep = append(keep, fmt.Errorf("(and %d more errors)", more))
	}
	return errors.Join(keep...)
}
