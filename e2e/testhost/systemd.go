package testhost

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Systemd hosts (Options.Systemd): each host runs the machine's real systemd
// (/lib/systemd/systemd --system) as PID 1 of its own PID namespace, like a
// container, inside the host's network and UTS namespaces and in a mount
// namespace of its own copied from the host's (so the per-host bind mounts are
// there). That mount namespace has
//
//   - a private tmpfs on /run: /run/systemd/system exists only inside the
//     host (what deploys test to find a systemd host), systemctl reaches
//     the host's systemd through /run/systemd/private, the journal is
//     volatile in /run/log/journal (a journald.conf drop-in in
//     /run/systemd/journald.conf.d; the machine's /var/log/journal is
//     never written);
//   - /proc of the PID namespace;
//   - a cgroup2 hierarchy rooted at the host's own cgroup
//     (<cgroup2 mount>/celeroot-testhost/<netns>, entered through a cgroup
//     namespace), so systemd manages its own tree and nothing else.
//
// systemd loads units only from the host's /etc/systemd/system (a per-host
// bind mount), /run/systemd/system and a small generated unit set
// (SYSTEMD_UNIT_PATH): a default target, stand-ins for sysinit, basic,
// multi-user, network(-online) and shutdown targets, and journald with its
// socket. Generators are off (SYSTEMD_GENERATOR_PATH is an empty
// directory), so none of the machine's services, mounts or gettys start.
// sshd and everything Host.Command runs enter the same namespaces including
// the PID namespace, so `systemctl` over SSH talks to the host's systemd.
//
// Killing the host (Host.Kill, Fleet.Close) SIGKILLs systemd, which takes
// down every process of its PID namespace, then removes the host's cgroup
// tree; the mount and PID namespace files are unmounted with the others.

// systemdBin is the systemd the harness runs as a host's PID 1.
const systemdBin = "/lib/systemd/systemd"

// systemdTarget is the default target of systemd test hosts.
const systemdTarget = "celeroot-testhost.target"

// cgroupDirName groups the hosts' cgroups below the cgroup2 mount.
const cgroupDirName = "celeroot-testhost"

// WithSystemd makes every host of the fleet run a real systemd as PID 1 of
// its own PID namespace (see SystemdSkipReason for what it needs).
func WithSystemd() Option {
	return func(o *Options) { o.Systemd = true }
}

// SystemdSkipReason says why this machine cannot run systemd test hosts, or
// "" when it can (it also needs what SkipReason checks).
func SystemdSkipReason() string {
	if r := SkipReason(); r != "" {
		return r
	}
	var why []string
	for _, p := range []string{systemdBin, "/usr/bin/systemctl", "/usr/bin/journalctl", "/lib/systemd/systemd-journald"} {
		if !isExecutable(p) {
			why = append(why, p+" is missing: apt-get install -y systemd")
			break
		}
	}
	if cgroup2Root() == "" {
		why = append(why, "no cgroup2 file system is mounted (systemd hosts need /sys/fs/cgroup or /sys/fs/cgroup/unified as cgroup2)")
	}
	if len(why) == 0 {
		return ""
	}
	return "testhost: " + strings.Join(why, "; ")
}

// cgroup2Root is the mount point of the cgroup2 hierarchy, "" if none.
func cgroup2Root() string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ... mountpoint ... - fstype source options
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, postFields := strings.Fields(pre), strings.Fields(post)
		if ok && len(fields) > 4 && len(postFields) > 0 && postFields[0] == "cgroup2" {
			return unescapeMountinfo(fields[4])
		}
	}
	return ""
}

// systemdProc is a running systemd host's init.
type systemdProc struct {
	cmd  *exec.Cmd     // nsenter -> sh -> unshare, the parent of systemd
	pid  int           // systemd's pid in this machine's PID namespace
	done chan struct{} // closed when cmd exited
}

func (h *Host) systemd() bool { return h.fleet.opts.Systemd }

// SystemdLogPath is the file receiving the errors of the host's systemd boot
// script and whatever writes to /dev/console inside the host; systemd and
// the units log to the host's journal (journalctl inside the host).
func (h *Host) SystemdLogPath() string { return filepath.Join(h.systemdDir(), "systemd.log") }

// SystemdPID is the pid (in this machine's PID namespace) of the host's
// systemd, 0 when the host does not run one.
func (h *Host) SystemdPID() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sd == nil {
		return 0
	}
	select {
	case <-h.sd.done:
		return 0
	default:
		return h.sd.pid
	}
}

func (h *Host) systemdDir() string { return filepath.Join(h.dir, "systemd") }
func (h *Host) unitDir() string    { return filepath.Join(h.systemdDir(), "units") }
func (h *Host) emptyDir() string   { return filepath.Join(h.systemdDir(), "empty") }
func (h *Host) sdMntFile() string {
	return filepath.Join(filepath.Dir(h.mntFile), fmt.Sprintf("h%d-sdmnt.ns", h.Index))
}
func (h *Host) pidFile() string {
	return filepath.Join(filepath.Dir(h.mntFile), fmt.Sprintf("h%d-pid.ns", h.Index))
}

// cgroupDir is the host's cgroup ("" without a cgroup2 mount).
func (h *Host) cgroupDir() string { return hostCgroupDir(h.netns) }

func hostCgroupDir(netns string) string {
	root := cgroup2Root()
	if root == "" {
		return ""
	}
	return filepath.Join(root, cgroupDirName, netns)
}

// nsFiles are the namespace files whose processes belong to the host.
func (h *Host) nsFiles() []string {
	files := []string{h.netnsPath(), h.mntFile, h.utsFile}
	if h.systemd() {
		files = append(files, h.sdMntFile(), h.pidFile())
	}
	return files
}

// systemdUnits is the unit set of systemd hosts, besides the host's own
// /etc/systemd/system. Targets the deployed units name (multi-user,
// network-online) exist but pull nothing in.
var systemdUnits = map[string]string{
	systemdTarget: `[Unit]
Description=celeroot test host
Requires=sysinit.target
After=sysinit.target
Wants=systemd-journald.service
AllowIsolate=yes
`,
	"sysinit.target": `[Unit]
Description=System Initialization (celeroot test host)
DefaultDependencies=no
Wants=systemd-journald.socket systemd-journald.service
`,
	"basic.target": `[Unit]
Description=Basic System (celeroot test host)
Requires=sysinit.target
After=sysinit.target
`,
	"multi-user.target": `[Unit]
Description=Multi-User System (celeroot test host)
Requires=basic.target
After=basic.target
AllowIsolate=yes
`,
	"network.target": `[Unit]
Description=Network (celeroot test host)
`,
	"network-online.target": `[Unit]
Description=Network is Online (celeroot test host)
After=network.target
`,
	"shutdown.target": `[Unit]
Description=System Shutdown
DefaultDependencies=no
RefuseManualStart=yes
`,
	// The machine's journald units, without /dev/log (the machine's /dev
	// is shared) and without the sandboxing that needs more than a test
	// host has.
	"systemd-journald.socket": `[Unit]
Description=Journal Socket
DefaultDependencies=no
Before=sockets.target
[Socket]
ListenDatagram=/run/systemd/journal/socket
ListenStream=/run/systemd/journal/stdout
PassCredentials=yes
PassSecurity=yes
ReceiveBuffer=8M
Service=systemd-journald.service
SocketMode=0666
Timestamping=us
`,
	"systemd-journald.service": `[Unit]
Description=Journal Service
DefaultDependencies=no
Requires=systemd-journald.socket
After=systemd-journald.socket
Before=sysinit.target
IgnoreOnIsolate=yes
[Service]
ExecStart=/lib/systemd/systemd-journald
Type=notify
Restart=always
RestartSec=0
Sockets=systemd-journald.socket
RuntimeDirectory=systemd/journal
RuntimeDirectoryPreserve=yes
StandardOutput=null
`,
}

// journaldConf keeps the journal in the host's /run and to itself.
const journaldConf = `[Journal]
Storage=volatile
ForwardToSyslog=no
ForwardToKMsg=no
ForwardToConsole=no
ForwardToWall=no
`

// systemdBootScript runs in the host's network, mount and UTS namespaces:
// $1 hostname, $2 cgroup directory, $3 unit directory, $4 empty directory,
// $5 unshare, $6 journald drop-in, $7 log file. It enters the host's cgroup,
// then a new cgroup, mount and PID namespace whose PID 1 becomes systemd.
// systemd logs to the host's journal; the log file is bound over
// /dev/console there, so that nothing a unit writes to the console reaches
// the machine's.
const systemdBootScript = `set -e
echo $$ > "$2/cgroup.procs"
exec "$5" --cgroup --mount --propagation private --pid --fork --mount-proc --kill-child -- /bin/sh -c '
set -e
mount -t tmpfs -o mode=0755,nosuid,nodev,size=64m celeroot-run /run
mkdir -p /run/sshd /run/systemd/journald.conf.d
printf "%s" "$6" > /run/systemd/journald.conf.d/celeroot-testhost.conf
mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 /sys/fs/cgroup
mount --bind "$7" /dev/console
exec env -i container=celeroot-test SYSTEMD_UNIT_PATH="/etc/systemd/system:/run/systemd/system:$3" \
	SYSTEMD_GENERATOR_PATH="$4" SYSTEMD_ENVIRONMENT_GENERATOR_PATH="$4" \
	` + systemdBin + ` --system --unit=` + systemdTarget + ` --log-target=journal --log-level=info \
	--show-status=no "systemd.hostname=$1"
' sh "$@"`

// writeSystemdFiles writes the host's unit set and empty generator
// directory.
func (h *Host) writeSystemdFiles() error {
	if err := os.MkdirAll(h.unitDir(), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(h.emptyDir(), 0o755); err != nil {
		return err
	}
	for name, content := range systemdUnits {
		if err := os.WriteFile(filepath.Join(h.unitDir(), name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	def := filepath.Join(h.unitDir(), "default.target")
	_ = os.Remove(def)
	return os.Symlink(systemdTarget, def)
}

// startSystemd boots the host's systemd unless it runs and waits until it
// reports the system running. The caller holds h.mu.
func (h *Host) startSystemd(ctx context.Context) error {
	if h.sd != nil {
		select {
		case <-h.sd.done:
		default:
			return nil
		}
	}
	if reason := SystemdSkipReason(); reason != "" {
		return errors.New(reason)
	}
	if err := h.cleanSystemd(); err != nil {
		return err
	}
	if err := h.writeSystemdFiles(); err != nil {
		return fmt.Errorf("write systemd units: %w", err)
	}
	cg := h.cgroupDir()
	var err error
	for range 3 { // another fleet's teardown may remove the empty parent meanwhile
		if err = os.MkdirAll(cg, 0o755); err == nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("create cgroup: %w", err)
	}
	for _, f := range []string{h.sdMntFile(), h.pidFile()} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			return fmt.Errorf("create namespace file: %w", err)
		}
	}
	// Truncated at each boot: writers through /dev/console start at offset 0.
	log, err := os.OpenFile(h.SystemdLogPath(), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	t := h.fleet.tools
	cmd := exec.Command(t.nsenter, "--net="+h.netnsPath(), "--mount="+h.mntFile, "--uts="+h.utsFile, "--",
		"/bin/sh", "-c", systemdBootScript, "sh", h.Name, cg, h.unitDir(), h.emptyDir(), t.unshare, journaldConf, h.SystemdLogPath())
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return err
	}
	sd := &systemdProc{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(sd.done)
	}()
	h.sd = sd
	if err := h.awaitSystemd(ctx, sd); err != nil {
		return fmt.Errorf("%w (systemd log: %s)", err, tailFile(h.SystemdLogPath()))
	}
	return nil
}

// awaitSystemd finds systemd (the child of unshare, which nsenter and sh
// exec), binds its mount and PID namespaces to the host's files and waits
// for `systemctl is-system-running --wait`.
func (h *Host) awaitSystemd(ctx context.Context, sd *systemdProc) error {
	ctx, cancel := context.WithTimeout(ctx, h.fleet.opts.ReadyTimeout)
	defer cancel()
	parent := sd.cmd.Process.Pid
	for {
		if pid := childPID(parent); pid > 0 && procComm(pid) == "systemd" {
			sd.pid = pid
			break
		}
		select {
		case <-sd.done:
			return errors.New("systemd exited at start")
		case <-ctx.Done():
			return fmt.Errorf("systemd did not start: %w", ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
	for kind, file := range map[string]string{"mnt": h.sdMntFile(), "pid": h.pidFile()} {
		src := fmt.Sprintf("/proc/%d/ns/%s", sd.pid, kind)
		if err := syscall.Mount(src, file, "", syscall.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind %s to %s: %w", src, file, err)
		}
	}
	// systemctl fails until systemd listens on /run/systemd/private.
	private := fmt.Sprintf("/proc/%d/root/run/systemd/private", sd.pid)
	for {
		if fi, err := os.Stat(private); err == nil && fi.Mode()&fs.ModeSocket != 0 {
			break
		}
		select {
		case <-sd.done:
			return errors.New("systemd exited at start")
		case <-ctx.Done():
			return fmt.Errorf("systemd did not open %s: %w", private, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
	out, err := h.Command(ctx, "systemctl", "is-system-running", "--wait").CombinedOutput()
	state := strings.TrimSpace(string(out))
	if err != nil || state != "running" {
		failed, _ := h.Command(ctx, "systemctl", "--failed", "--no-legend", "--plain").CombinedOutput()
		return fmt.Errorf("systemd is %q (%v); failed units: %s", state, err, strings.TrimSpace(string(failed)))
	}
	return nil
}

// stopSystemd SIGKILLs the host's systemd, and with it every process of its
// PID namespace, and waits until its parent has reaped it. The caller
// holds h.mu.
func (h *Host) stopSystemd() error {
	sd := h.sd
	if sd == nil {
		return nil
	}
	h.sd = nil
	if sd.pid > 0 {
		_ = syscall.Kill(sd.pid, syscall.SIGKILL)
	}
	select {
	case <-sd.done:
		return nil
	case <-time.After(5 * time.Second):
		_ = sd.cmd.Process.Kill()
		return errors.New("systemd's parent did not exit")
	}
}

// cleanSystemd unbinds the host's systemd namespace files and removes its
// cgroup tree (after stopSystemd or a kill).
func (h *Host) cleanSystemd() error {
	var errs []error
	for _, f := range []string{h.sdMntFile(), h.pidFile()} {
		if err := syscall.Unmount(f, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", f, err))
		}
	}
	if err := removeCgroupTree(h.cgroupDir()); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// removeSystemdCgroups removes the cgroups of the fleet's hosts (by netns
// name) and the shared parent when it is empty. Teardown calls it after
// every process is dead.
func removeSystemdCgroups(s *fleetState) error {
	root := cgroup2Root()
	if root == "" {
		return nil
	}
	parent := filepath.Join(root, cgroupDirName)
	var errs []error
	for _, h := range s.Hosts {
		if h.NetNS != "" {
			errs = append(errs, removeCgroupTree(filepath.Join(parent, h.NetNS)))
		}
	}
	if s.ID != "" {
		left, _ := filepath.Glob(filepath.Join(parent, namePrefix+s.ID+"-*"))
		for _, d := range left {
			errs = append(errs, removeCgroupTree(d))
		}
	}
	_ = syscall.Rmdir(parent) // fails while other fleets use it
	return errors.Join(errs...)
}

// removeCgroupTree removes a cgroup directory and its children, deepest
// first, retrying while the kernel still counts exiting processes.
func removeCgroupTree(dir string) error {
	if dir == "" {
		return nil
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		var dirs []string
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
		var last error
		for _, d := range dirs {
			if err := syscall.Rmdir(d); err != nil && !errors.Is(err, syscall.ENOENT) {
				last = fmt.Errorf("remove cgroup %s: %w", d, err)
			}
		}
		if last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return last
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// childPID is the first child of pid, 0 if none.
func childPID(pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0
	}
	c, _ := strconv.Atoi(f[0])
	return c
}

func procComm(pid int) string {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(data))
}

// tailFile is the end of a log file for error messages.
func tailFile(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "(no log)"
	}
	s := strings.TrimSpace(string(data))
	if len(s) > 600 {
		s = "..." + s[len(s)-600:]
	}
	if s == "" {
		return "(empty)"
	}
	return s
}

// stopSystemds stops every host's systemd first, so that each is reaped by
// its own parent rather than left to this machine's init.
func (f *Fleet) stopSystemds() error {
	var errs []error
	for _, h := range f.Hosts {
		h.mu.Lock()
		errs = append(errs, h.stopSystemd())
		h.mu.Unlock()
	}
	return errors.Join(errs...)
}
