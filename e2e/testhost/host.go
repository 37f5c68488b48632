package testhost

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Host is one test host: a real sshd in its own network, mount and UTS
// namespaces. Its methods are safe for concurrent use.
type Host struct {
	Name  string // host name and hostname inside the host, e.g. "host3"
	Index int    // 1-based position in Fleet.Hosts
	Addr  string // IPv4 address on the fleet bridge, e.g. "10.213.7.4"
	Port  int    // sshd port, always 22

	fleet   *Fleet
	netns   string // network namespace name (clt<id>-h<i>)
	veth    string // root-side veth name (clv<id>x<i>)
	dir     string // <fleet dir>/<name>
	mntFile string
	utsFile string
	mounts  []bindMount

	mu   sync.Mutex
	sshd *exec.Cmd
	done chan struct{} // closed when sshd exits
	sd   *systemdProc  // the host's systemd (Options.Systemd), nil when not started
}

type bindMount struct{ source, target string }

// Endpoint is "addr:port", what an SSH client dials.
func (h *Host) Endpoint() string { return net.JoinHostPort(h.Addr, strconv.Itoa(h.Port)) }

// NetNS is the name of the host's network namespace (for `ip netns exec`).
func (h *Host) NetNS() string { return h.netns }

// LogPath is the file receiving the host's sshd stderr.
func (h *Host) LogPath() string { return filepath.Join(h.sshdDir(), "sshd.log") }

// SSHDConfigPath is the host's sshd_config.
func (h *Host) SSHDConfigPath() string { return filepath.Join(h.sshdDir(), "sshd_config") }

// SSHArgs are OpenSSH client arguments that log in to the host as the test
// user with strict host key checking; append a remote command.
func (h *Host) SSHArgs() []string {
	f := h.fleet
	return []string{"-i", f.KeyPath, "-p", strconv.Itoa(h.Port),
		"-o", "UserKnownHostsFile=" + f.KnownHostsPath, "-o", "StrictHostKeyChecking=yes",
		"-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=5",
		"-F", "/dev/null", f.User + "@" + h.Addr}
}

func (h *Host) netnsPath() string { return filepath.Join("/run/netns", h.netns) }
func (h *Host) sshdDir() string   { return filepath.Join(h.dir, "sshd") }
func (h *Host) rootDir() string   { return filepath.Join(h.dir, "root") }
func (h *Host) hostKeyPath(typ string) string {
	return filepath.Join(h.sshdDir(), "ssh_host_"+typ+"_key")
}

// Command prepares argv to run as root inside the host's network, mount and
// UTS namespaces (not as the login user, and not through sshd); on systemd
// hosts inside systemd's mount and PID namespaces.
func (h *Host) Command(ctx context.Context, argv ...string) *exec.Cmd {
	t := h.fleet.tools
	ns := []string{"--net=" + h.netnsPath(), "--mount=" + h.mntFile, "--uts=" + h.utsFile}
	if h.systemd() {
		ns = []string{"--net=" + h.netnsPath(), "--mount=" + h.sdMntFile(), "--uts=" + h.utsFile, "--pid=" + h.pidFile()}
	}
	args := append(append(ns, "--"), argv...)
	cmd := exec.CommandContext(ctx, t.nsenter, args...)
	cmd.Dir = "/"
	return cmd
}

// Exec runs argv as root inside the host and returns its combined output.
func (h *Host) Exec(ctx context.Context, argv ...string) ([]byte, error) {
	if len(argv) == 0 {
		return nil, fmt.Errorf("exec in %s: empty command", h.Name)
	}
	out, err := h.Command(ctx, argv...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("exec %q in %s: %w: %s", strings.Join(argv, " "), h.Name, err, strings.TrimSpace(string(out)))
	}
	return out, nil
}

// Path maps an absolute path as seen inside the host to the real path on this
// machine: below a bind-mount target it is the per-host source directory,
// anywhere else the path itself (hosts share the rest of the filesystem).
// Symlinks are not followed; see Resolve.
func (h *Host) Path(p string) string {
	p = filepath.Clean(p)
	best := -1
	for i, m := range h.mounts {
		if isWithin(p, m.target) && (best < 0 || len(m.target) > len(h.mounts[best].target)) {
			best = i
		}
	}
	if best < 0 {
		return p
	}
	rel, _ := filepath.Rel(h.mounts[best].target, p)
	return filepath.Join(h.mounts[best].source, rel)
}

// Resolve is Path after following symlinks the way the host would: an
// absolute link target such as /opt/celeroot/releases/<sha> is looked up in
// the host's view, not this machine's.
func (h *Host) Resolve(p string) (string, error) {
	p = filepath.Clean(p)
	for range 40 {
		next, changed, err := h.resolveOnce(p)
		if err != nil || !changed {
			return h.Path(next), err
		}
		p = next
	}
	return "", fmt.Errorf("resolve %s in %s: too many symlinks", p, h.Name)
}

// resolveOnce replaces the first symlink component of p with its target.
func (h *Host) resolveOnce(p string) (string, bool, error) {
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	cur := "/"
	for i, part := range parts {
		cur = filepath.Join(cur, part)
		fi, err := os.Lstat(h.Path(cur))
		if err != nil {
			return p, false, fmt.Errorf("resolve %s in %s: %w", p, h.Name, err)
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			continue
		}
		target, err := os.Readlink(h.Path(cur))
		if err != nil {
			return p, false, fmt.Errorf("resolve %s in %s: %w", p, h.Name, err)
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(cur), target)
		}
		return filepath.Join(append([]string{target}, parts[i+1:]...)...), true, nil
	}
	return p, false, nil
}

// CutOff makes the host unreachable like a dead network: its bridge port goes
// down, so packets to and from it are dropped and TCP connects time out
// (permanent neighbour entries keep "no route to host" from ending them early).
func (h *Host) CutOff() error {
	return h.setLink(false)
}

// Restore undoes CutOff and returns once packets flow again. (The kernel
// applies carrier changes asynchronously, up to a second later; until then
// the bridge port and the host's eth0 still drop traffic.)
func (h *Host) Restore() error {
	if err := h.setLink(true); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for !h.linkReady(ctx) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("restore %s: link not up: %w", h.Name, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// linkReady reports whether the root-side veth is up and forwarding on the
// bridge and the host's eth0 is up.
func (h *Host) linkReady(ctx context.Context) bool {
	sys := filepath.Join("/sys/class/net", h.veth)
	oper, _ := os.ReadFile(filepath.Join(sys, "operstate"))
	port, _ := os.ReadFile(filepath.Join(sys, "brport", "state"))
	if strings.TrimSpace(string(oper)) != "up" || strings.TrimSpace(string(port)) != "3" {
		return false
	}
	out, err := run(ctx, "", h.fleet.tools.ip, "-n", h.netns, "-o", "link", "show", "dev", "eth0")
	return err == nil && strings.Contains(string(out), "state UP")
}

func (h *Host) setLink(up bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := setLink(ctx, h.fleet.tools.ip, h.veth, up); err != nil {
		return fmt.Errorf("%s: %w", h.Name, err)
	}
	return nil
}

// Kill SIGKILLs the host's sshd and every process in the host's namespaces
// (sessions, workers started over SSH or by Exec, systemd and its services)
// and waits for them to go. The namespaces, files and keys stay; Start
// brings sshd (and systemd) back.
func (h *Host) Kill() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	err := h.stopSystemd()
	err = errors.Join(err, killInNamespaces(h.nsFiles()))
	if h.systemd() {
		err = errors.Join(err, h.cleanSystemd())
	}
	if h.done != nil {
		select {
		case <-h.done:
		case <-time.After(5 * time.Second):
			err = errors.Join(err, errors.New("sshd did not exit"))
		}
		h.sshd, h.done = nil, nil
	}
	if err != nil {
		return fmt.Errorf("kill %s: %w", h.Name, err)
	}
	return nil
}

// Start starts the host's sshd (same keys, same address) unless it runs, and
// waits until it accepts TCP connections. On systemd hosts it first boots
// systemd unless it runs, and waits until systemd reports "running".
func (h *Host) Start(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.systemd() {
		if err := h.startSystemd(ctx); err != nil {
			return fmt.Errorf("start systemd on %s: %w", h.Name, err)
		}
	}
	if h.done != nil {
		select {
		case <-h.done:
		default:
			return nil
		}
	}
	if err := h.spawnSSHD(); err != nil {
		return fmt.Errorf("start sshd on %s: %w", h.Name, err)
	}
	if err := h.waitReady(ctx); err != nil {
		return fmt.Errorf("start sshd on %s: %w", h.Name, err)
	}
	return nil
}

// spawnSSHD runs sshd in the foreground inside the host, stderr to LogPath.
func (h *Host) spawnSSHD() error {
	log, err := os.OpenFile(h.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := h.Command(context.Background(), h.fleet.tools.sshd, "-D", "-e", "-f", h.SSHDConfigPath())
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	h.sshd, h.done = cmd, done
	return nil
}

// waitReady polls until sshd accepts TCP, sshd exits, or time runs out.
func (h *Host) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, h.fleet.opts.ReadyTimeout)
	defer cancel()
	var d net.Dialer
	for {
		dctx, dcancel := context.WithTimeout(ctx, 250*time.Millisecond)
		c, err := d.DialContext(dctx, "tcp", h.Endpoint())
		dcancel()
		if err == nil {
			return c.Close()
		}
		select {
		case <-h.done:
			return fmt.Errorf("sshd exited: %s", h.logTail())
		case <-ctx.Done():
			return fmt.Errorf("no TCP answer on %s: %w (sshd log: %s)", h.Endpoint(), ctx.Err(), h.logTail())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// logTail returns the last lines of the sshd log for error messages.
func (h *Host) logTail() string { return tailFile(h.LogPath()) }
