package testhost

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func sshRun(t *testing.T, h *Host, script string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ssh", append(h.SSHArgs(), script)...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// TestSystemdHosts: each host runs its own systemd as PID 1, reachable over
// SSH with systemctl and journalctl; nothing of it is visible outside the
// host; Kill and Start reboot it; Close leaves no process, cgroup or mount.
func TestSystemdHosts(t *testing.T) {
	if r := SystemdSkipReason(); r != "" {
		t.Skip(r)
	}
	if _, err := os.Stat("/usr/bin/sudo"); err != nil {
		t.Skip("sudo not installed (apt-get install sudo)")
	}
	f, err := Start(context.Background(), 2, WithSystemd())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		t.Fatal("/run/systemd/system exists outside the hosts")
	}
	h1, h2 := f.Hosts[0], f.Hosts[1]
	for _, h := range f.Hosts {
		out, err := sshRun(t, h, `hostname; test -d /run/systemd/system && echo systemd; echo pid1=$(cat /proc/1/comm); sudo -n systemctl is-system-running 2>/dev/null`)
		if err != nil || out != h.Name+"\nsystemd\npid1=systemd\nrunning" {
			t.Fatalf("%s: %q, %v", h.Name, out, err)
		}
	}

	// A unit started on host1 logs to host1's journal only.
	unit := "[Service]\nExecStart=/bin/sh -c 'echo hello from unit; exec sleep 600'\n"
	if err := os.WriteFile(h1.Path("/etc/systemd/system/th-test.service"), []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := sshRun(t, h1, `(sudo -n systemctl daemon-reload && sudo -n systemctl start th-test && sleep 0.3 && sudo -n systemctl is-active th-test && sudo -n journalctl -u th-test -o cat --no-pager) 2>/dev/null`)
	if err != nil || !strings.HasPrefix(out, "active\n") || !strings.Contains(out, "\nhello from unit") {
		t.Fatalf("unit on %s: %q, %v", h1.Name, out, err)
	}
	if out, _ := sshRun(t, h2, `sudo -n systemctl is-active th-test 2>/dev/null`); out != "inactive" {
		t.Errorf("th-test on %s: %q, want inactive", h2.Name, out)
	}

	// Kill and Start: a fresh systemd, sshd back, the unit gone with it.
	pid := h1.SystemdPID()
	if err := h1.Kill(); err != nil {
		t.Fatal(err)
	}
	if h1.SystemdPID() != 0 || processAlive(pid) {
		t.Fatalf("systemd %d alive after Kill", pid)
	}
	if err := h1.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if out, err := sshRun(t, h1, `sudo -n systemctl is-active th-test 2>/dev/null; sudo -n systemctl is-system-running 2>/dev/null; sudo -n journalctl -b -o cat --no-pager 2>/dev/null | grep -q "Reached target.*celeroot test host" && echo journal`); out != "inactive\nrunning\njournal" {
		t.Errorf("after Kill/Start: %q, %v", out, err)
	}

	pids := []int{h1.SystemdPID(), h2.SystemdPID()}
	cgroups := []string{h1.cgroupDir(), h2.cgroupDir()}
	nsDir := filepath.Dir(h1.mntFile)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range pids {
		if processAlive(p) {
			t.Errorf("systemd %d alive after Close", p)
		}
	}
	for _, cg := range cgroups {
		if _, err := os.Stat(cg); err == nil {
			t.Errorf("cgroup %s left after Close", cg)
		}
	}
	points, _ := mountPoints()
	for _, p := range points {
		if isWithin(p, nsDir) {
			t.Errorf("mount %s left after Close", p)
		}
	}
}

func processAlive(pid int) bool {
	_, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid)))
	return pid > 0 && err == nil
}
