package testhost

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Each host's mount and UTS namespaces outlive its processes: unshare binds
// them to files in the fleet's namespace-file directory below nsRoot.
func mntFile(nsDir string, i int) string { return filepath.Join(nsDir, fmt.Sprintf("h%d-mnt.ns", i)) }
func utsFile(nsDir string, i int) string { return filepath.Join(nsDir, fmt.Sprintf("h%d-uts.ns", i)) }

// ensureNSRoot makes nsRoot a private bind mount of itself unless it is a
// mount point already. The caller holds the state lock.
func ensureNSRoot() error {
	if err := os.MkdirAll(nsRoot, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", nsRoot, err)
	}
	points, err := mountPoints()
	if err != nil {
		return err
	}
	for _, p := range points {
		if p == nsRoot {
			return nil
		}
	}
	if err := syscall.Mount(nsRoot, nsRoot, "", syscall.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s: %w", nsRoot, err)
	}
	if err := syscall.Mount("", nsRoot, "", syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make %s private: %w", nsRoot, err)
	}
	return nil
}

// releaseNSRoot unmounts and removes nsRoot when no fleet state file is
// left, so that no mount outlives the last fleet. The caller holds the lock.
func releaseNSRoot() error {
	states, err := loadStates()
	if err != nil || len(states) > 0 {
		return err
	}
	if err := unmountTree(nsRoot); err != nil {
		return fmt.Errorf("release %s: %w", nsRoot, err)
	}
	return nil
}

// hostNSScript runs inside the new mount+UTS namespace (already in the host's
// network namespace). $1 is the hostname, then pairs of source and target
// (the targets exist). It first drops this namespace's copies of
// /run/netns and nsRoot: holding those namespace files would keep other
// hosts' and fleets' namespaces alive after they are closed.
const hostNSScript = `set -e
hostname "$1"; shift
umount -l /run/netns ` + nsRoot + ` 2>/dev/null || true
while [ $# -ge 2 ]; do
	mount --bind "$1" "$2"
	shift 2
done`

// createHostNS creates host h's persistent mount and UTS namespaces: hostname
// set, bind mounts in place, joined to its network namespace.
func createHostNS(ctx context.Context, t tools, h *Host) error {
	for _, f := range []string{h.mntFile, h.utsFile} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			return fmt.Errorf("create namespace file for %s: %w", h.Name, err)
		}
	}
	args := []string{"--net=" + h.netnsPath(), "--", t.unshare,
		"--mount=" + h.mntFile, "--uts=" + h.utsFile, "--propagation", "private",
		"--", "/bin/sh", "-c", hostNSScript, "sh", h.Name}
	for _, m := range h.mounts {
		args = append(args, m.source, m.target)
	}
	if _, err := run(ctx, "", t.nsenter, args...); err != nil {
		return fmt.Errorf("create namespaces of %s: %w", h.Name, err)
	}
	return nil
}

// unmountTree unmounts every mount at or below dir (deepest first) and
// removes dir.
func unmountTree(dir string) error {
	points, err := mountPoints()
	if err != nil {
		return err
	}
	var mine []string
	for _, p := range points {
		if isWithin(p, dir) {
			mine = append(mine, p)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(mine)))
	var errs []error
	for _, p := range mine {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
		}
	}
	if err := os.RemoveAll(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, fmt.Errorf("remove %s: %w", dir, err))
	}
	return errors.Join(errs...)
}

// mountPoints lists this process's mount points (from /proc/self/mountinfo).
func mountPoints() ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 {
			out = append(out, unescapeMountinfo(fields[4]))
		}
	}
	return out, sc.Err()
}

// unescapeMountinfo decodes the \NNN octal escapes of mountinfo paths.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// nsID identifies a namespace by the device and inode of its nsfs file.
type nsID struct{ dev, ino uint64 }

func statNS(path string) (nsID, bool) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return nsID{}, false
	}
	return nsID{dev: st.Dev, ino: st.Ino}, true
}

// pidsIn returns the processes that are in any of the namespaces.
func pidsIn(targets map[nsID]bool) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		for _, kind := range []string{"net", "mnt", "uts", "pid"} {
			if id, ok := statNS("/proc/" + e.Name() + "/ns/" + kind); ok && targets[id] {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// killInNamespaces SIGKILLs every process in the namespaces named by the
// files and waits until none is left.
func killInNamespaces(files []string) error {
	targets := map[nsID]bool{}
	for _, f := range files {
		if id, ok := statNS(f); ok {
			targets[id] = true
		}
	}
	if len(targets) == 0 {
		return nil
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids := pidsIn(targets)
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v survive SIGKILL", pids)
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
