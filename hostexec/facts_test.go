package hostexec

import (
	"context"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"
)

const debianFacts = `@@hostname
web1
@@os-release
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
ID=debian
HOME_URL="https://www.debian.org/"
@@kernel
6.1.0-18-amd64
@@arch
x86_64
@@cpus
4
@@meminfo
MemTotal:       16318412 kB
@@disk
/var/lib
@@df
Filesystem     1024-blocks     Used Available Capacity Mounted on
/dev/vda1         264212084 12805536  82695728      14% /
@@systemd
yes
@@time
1700000000.250000000
@@end
`

func TestParseFacts(t *testing.T) {
	f, err := parseFacts(debianFacts)
	if err != nil {
		t.Fatal(err)
	}
	want := Facts{
		Hostname: "web1", OSName: "Debian GNU/Linux 12 (bookworm)", OSID: "debian", Kernel: "6.1.0-18-amd64",
		Arch: "amd64", MachineArch: "x86_64", CPUs: 4, MemTotalBytes: 16318412 * 1024, DiskPath: "/var/lib",
		DiskFreeBytes: 82695728 * 1024, Systemd: true, Time: time.Unix(1700000000, 250000000),
	}
	if !factsEqual(f, want) {
		t.Errorf("got  %+v\nwant %+v", f, want)
	}
}

// Minimal images: busybox df, no os-release, date without %N, no systemd,
// a mount point with spaces, CRLF line ends.
func TestParseFactsMinimal(t *testing.T) {
	out := "@@hostname\r\nbox\r\n@@os-release\n@@kernel\n5.10.0\n@@arch\naarch64\n@@cpus\n\n@@meminfo\n" +
		"@@disk\n/data dir\n@@df\nFilesystem           1024-blocks    Used Available Capacity Mounted on\n" +
		"/dev/mapper/vg-data with space\n                      1000       10       990   1% /data dir\n" +
		"@@systemd\nno\n@@time\n1700000000.N\n@@end\n"
	f, err := parseFacts(out)
	if err != nil {
		t.Fatal(err)
	}
	if f.Hostname != "box" || f.Arch != "arm64" || f.DiskFreeBytes != 990*1024 || f.DiskPath != "/data dir" ||
		f.Systemd || !f.Time.Equal(time.Unix(1700000000, 0)) || f.Kernel != "5.10.0" {
		t.Errorf("got %+v", f)
	}
	for _, w := range []string{"os (no /etc/os-release)", "cpus", "memory"} {
		if !slices.Contains(f.Warnings, w) {
			t.Errorf("warnings %q lack %q", f.Warnings, w)
		}
	}
}

func TestParseFactsGarbage(t *testing.T) {
	if _, err := parseFacts("sh: 1: syntax error\n"); err == nil {
		t.Error("garbage parsed")
	}
	f, err := parseFacts("@@hostname\nh\n@@kernel\n")
	if err != nil || !slices.Contains(f.Warnings, "output truncated") {
		t.Errorf("truncated output: %+v %v", f, err)
	}
}

func TestParseOSRelease(t *testing.T) {
	m := parseOSRelease([]string{`PRETTY_NAME="Alpine \"Linux\" v3.19"`, `ID='alpine'`, `# comment`, `VERSION_ID=3.19.1`, ``})
	if m["PRETTY_NAME"] != `Alpine "Linux" v3.19` || m["ID"] != "alpine" || m["VERSION_ID"] != "3.19.1" {
		t.Errorf("got %q", m)
	}
}

func TestNormalizeArch(t *testing.T) {
	for in, want := range map[string]string{
		"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm", "armv6l": "arm",
		"i686": "386", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64", "weird": "weird",
	} {
		if got := NormalizeArch(in); got != want {
			t.Errorf("NormalizeArch(%q) = %q, want %q", in, got, want)
		}
	}
}

// GatherFacts on this machine, through Local.
func TestGatherFactsLocal(t *testing.T) {
	start := time.Now()
	f, err := GatherFacts(context.Background(), &Local{}, "/nonexistent/deeper/path")
	if err != nil {
		t.Fatal(err)
	}
	checkLocalFacts(t, f, "/", time.Since(start))
}

// checkLocalFacts checks facts gathered from this machine in a command
// that lasted took. The skew against ourselves is estimated at the command's
// midpoint, so its error is at most half of took (a loaded machine makes
// that seconds).
func checkLocalFacts(t *testing.T, f Facts, diskPath string, took time.Duration) {
	t.Helper()
	host, _ := os.Hostname()
	if f.Hostname != host || f.Arch != runtime.GOARCH || f.CPUs < 1 || f.MemTotalBytes == 0 ||
		f.DiskFreeBytes == 0 || f.DiskPath != diskPath || f.Kernel == "" {
		t.Errorf("facts %+v", f)
	}
	if limit := took/2 + 100*time.Millisecond; f.ClockSkew.Abs() > limit {
		t.Errorf("clock skew %v against ourselves, more than half the command's %v", f.ClockSkew, took)
	}
	_, statErr := os.Stat("/run/systemd/system")
	if f.Systemd != (statErr == nil) {
		t.Errorf("systemd %v, /run/systemd/system: %v", f.Systemd, statErr)
	}
	t.Logf("facts: %+v", f)
}

func factsEqual(a, b Facts) bool {
	return a.Hostname == b.Hostname && a.OSName == b.OSName && a.OSID == b.OSID && a.Kernel == b.Kernel &&
		a.Arch == b.Arch && a.MachineArch == b.MachineArch && a.CPUs == b.CPUs && a.MemTotalBytes == b.MemTotalBytes &&
		a.DiskPath == b.DiskPath && a.DiskFreeBytes == b.DiskFreeBytes && a.Systemd == b.Systemd &&
		a.Time.Equal(b.Time) && len(a.Warnings) == len(b.Warnings)
}
