package hostexec

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Facts is what GatherFacts observed on a host.
type Facts struct {
	Hostname      string
	OSName        string // PRETTY_NAME from os-release, e.g. "Debian GNU/Linux 12 (bookworm)"
	OSID          string // ID from os-release, e.g. "debian"
	Kernel        string // uname -r
	Arch          string // uname -m normalised: amd64, arm64, arm, 386, …
	MachineArch   string // uname -m as reported
	CPUs          int
	MemTotalBytes uint64
	DiskPath      string // the existing directory DiskFreeBytes was measured on
	DiskFreeBytes uint64 // available to unprivileged users (df "Available")
	Systemd       bool   // systemd is PID 1 (/run/systemd/system exists)
	Time          time.Time
	// ClockSkew is the host's clock minus ours, taken at the midpoint of
	// the round trip (so it is off by at most half the round trip).
	ClockSkew time.Duration
	// Warnings name the facts that could not be read; their fields are zero.
	Warnings []string
}

// FactsScript prints the facts in "@@section" blocks; $1 is the disk path.
// It is plain POSIX sh with fallbacks for busybox and minimal images, and
// runs only two programs (df, date; uname -m too on kernels before 6.1,
// which lack /proc/sys/kernel/arch): everything else is read from /proc
// and /sys with shell builtins, because on a fan-out over many
// hosts each fork is paid on every host. Callers that observe more in the
// same command (drift) append it to their own script and hand the whole
// output to ParseFacts.
const FactsScript = `LC_ALL=C; export LC_ALL
p=${1:-/}
while [ ! -e "$p" ] && [ "$p" != / ] && [ "$p" != . ]; do p=${p%/*}; [ -n "$p" ] || p=/; done
echo '@@hostname'; read -r h </proc/sys/kernel/hostname 2>/dev/null && echo "$h"
echo '@@os-release'; for f in /etc/os-release /usr/lib/os-release; do [ -r "$f" ] && { while IFS= read -r l || [ -n "$l" ]; do echo "$l"; done <"$f"; break; }; done
echo '@@kernel'; read -r k </proc/sys/kernel/osrelease 2>/dev/null && echo "$k"
echo '@@arch'; if read -r a </proc/sys/kernel/arch 2>/dev/null && [ -n "$a" ]; then echo "$a"; else uname -m; fi
echo '@@cpus'; n=0; if read -r on </sys/devices/system/cpu/online 2>/dev/null; then IFS=,; for r in $on; do case $r in *-*) n=$((n + ${r#*-} - ${r%-*} + 1)) ;; *) n=$((n + 1)) ;; esac; done; unset IFS; fi; echo "$n"
echo '@@meminfo'; while read -r key val unit; do [ "$key" = MemTotal: ] && { echo "$key $val $unit"; break; }; done </proc/meminfo
echo '@@disk'; printf '%s\n' "$p"
echo '@@df'; df -Pk -- "$p"
echo '@@systemd'; if [ -d /run/systemd/system ]; then echo yes; else echo no; fi
echo '@@time'; date +%s.%N
echo '@@end'
`

// MaxFactsOutput caps the facts script's output (an os-release and a df
// line are a few KiB).
const MaxFactsOutput = 1 << 20

// GatherFacts reads the host's facts with one remote command. diskPath
// names the filesystem whose free space is reported (its nearest existing
// parent when it does not exist yet); "" means /.
func GatherFacts(ctx context.Context, h Host, diskPath string) (Facts, error) {
	var stdout bytes.Buffer
	var stderr limitedBuffer
	start := time.Now()
	res, err := h.Run(ctx, Command{Argv: []string{"/bin/sh", "-c", FactsScript, "sh", diskPath}, Stdout: &stdout, Stderr: &stderr, MaxStdout: MaxFactsOutput})
	end := time.Now()
	if err != nil {
		return Facts{}, fmt.Errorf("gather facts: %w", err)
	}
	f, err := ParseFacts(stdout.String(), start, end)
	if err != nil {
		return Facts{}, fmt.Errorf("gather facts: %w (exit status %d, stderr: %q)", err, res.ExitCode, strings.TrimSpace(stderr.String()))
	}
	return f, nil
}

// ParseFacts reads FactsScript's output (other "@@" sections around it are
// ignored). start and end bracket the command, for the clock skew.
func ParseFacts(out string, start, end time.Time) (Facts, error) {
	f, err := parseFacts(out)
	if err == nil && !f.Time.IsZero() {
		mid := start.Add(end.Sub(start) / 2)
		f.ClockSkew = f.Time.Sub(mid)
	}
	return f, err
}

// parseFacts reads FactsScript's output. Missing or garbled sections
// become Warnings; only output that is not the script's at all is an error.
func parseFacts(out string) (Facts, error) {
	sections := map[string][]string{}
	var cur string
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimRight(line, "\r")
		if name, ok := strings.CutPrefix(line, "@@"); ok && name != "" && !strings.ContainsAny(name, " \t") {
			cur = name
			sections[cur] = []string{}
			continue
		}
		if cur != "" {
			sections[cur] = append(sections[cur], line)
		}
	}
	if _, ok := sections["hostname"]; !ok {
		return Facts{}, fmt.Errorf("unexpected output from the facts script: %.200q", out)
	}
	var f Facts
	warn := func(what string) { f.Warnings = append(f.Warnings, what) }
	first := func(name string) string {
		for _, l := range sections[name] {
			if s := strings.TrimSpace(l); s != "" {
				return s
			}
		}
		return ""
	}

	if f.Hostname = first("hostname"); f.Hostname == "" {
		warn("hostname")
	}
	osr := parseOSRelease(sections["os-release"])
	f.OSName, f.OSID = osr["PRETTY_NAME"], osr["ID"]
	if f.OSName == "" {
		f.OSName = strings.TrimSpace(osr["NAME"] + " " + osr["VERSION"])
	}
	if f.OSID == "" {
		warn("os (no /etc/os-release)")
	}
	if f.Kernel = first("kernel"); f.Kernel == "" {
		warn("kernel")
	}
	f.MachineArch = first("arch")
	if f.Arch = NormalizeArch(f.MachineArch); f.Arch == "" {
		warn("arch")
	}
	if n, err := strconv.Atoi(first("cpus")); err == nil && n > 0 {
		f.CPUs = n
	} else {
		warn("cpus")
	}
	if kb, ok := parseMemTotal(first("meminfo")); ok {
		f.MemTotalBytes = kb * 1024
	} else {
		warn("memory")
	}
	f.DiskPath = strings.Join(sections["disk"], "\n")
	f.DiskPath = strings.TrimSuffix(f.DiskPath, "\n")
	if kb, ok := parseDFAvailable(sections["df"]); ok {
		f.DiskFreeBytes = kb * 1024
	} else {
		warn("disk")
	}
	switch first("systemd") {
	case "yes":
		f.Systemd = true
	case "no":
	default:
		warn("systemd")
	}
	if t, ok := parseUnixTime(first("time")); ok {
		f.Time = t
	} else {
		warn("time")
	}
	if _, ok := sections["end"]; !ok {
		warn("output truncated")
	}
	return f, nil
}

// parseOSRelease reads os-release KEY=value lines; values may be in
// double quotes (with backslash escapes) or single quotes.
func parseOSRelease(lines []string) map[string]string {
	m := map[string]string{}
	for _, l := range lines {
		l = strings.TrimSpace(l)
		k, v, ok := strings.Cut(l, "=")
		if !ok || strings.HasPrefix(l, "#") || k == "" {
			continue
		}
		switch {
		case len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"':
			var b strings.Builder
			in := v[1 : len(v)-1]
			for i := 0; i < len(in); i++ {
				if in[i] == '\\' && i+1 < len(in) {
					i++
				}
				b.WriteByte(in[i])
			}
			v = b.String()
		case len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'':
			v = v[1 : len(v)-1]
		}
		m[k] = v
	}
	return m
}

// parseMemTotal reads "MemTotal:  16318412 kB" and returns the kB.
func parseMemTotal(line string) (uint64, bool) {
	fields := strings.Fields(line)
	if len(fields) < 2 || fields[0] != "MemTotal:" {
		return 0, false
	}
	n, err := strconv.ParseUint(fields[1], 10, 64)
	return n, err == nil
}

// parseDFAvailable reads `df -Pk` output and returns the Available column
// in kB. It locates the capacity column ("42%") and takes the one before
// it, so file system names or mount points with spaces do not shift it.
func parseDFAvailable(lines []string) (uint64, bool) {
	var data []string
	for _, l := range lines {
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "Filesystem") {
			continue
		}
		data = append(data, l)
	}
	if len(data) == 0 {
		return 0, false
	}
	fields := strings.Fields(strings.Join(data, " ")) // a wrapped line joins back
	for i := 1; i < len(fields); i++ {
		if pct := fields[i]; strings.HasSuffix(pct, "%") {
			if _, err := strconv.Atoi(strings.TrimSuffix(pct, "%")); err != nil && pct != "-%" {
				continue
			}
			n, err := strconv.ParseUint(fields[i-1], 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// parseUnixTime reads "1700000000.123456789"; a fraction that is not
// digits (date without %N prints "N" or "%N") is ignored.
func parseUnixTime(s string) (time.Time, bool) {
	sec, frac, _ := strings.Cut(s, ".")
	n, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	var ns int64
	if frac != "" && len(frac) <= 9 {
		if v, err := strconv.ParseInt(frac, 10, 64); err == nil {
			ns = v * pow10(9-len(frac))
		}
	}
	return time.Unix(n, ns), true
}

func pow10(n int) int64 {
	p := int64(1)
	for range n {
		p *= 10
	}
	return p
}

// NormalizeArch maps uname -m onto Go's GOARCH names (amd64, arm64, arm,
// 386, ppc64le, s390x, riscv64, …); unknown values pass through.
func NormalizeArch(m string) string {
	switch m := strings.ToLower(strings.TrimSpace(m)); {
	case m == "x86_64" || m == "amd64":
		return "amd64"
	case m == "aarch64" || m == "arm64" || m == "aarch64_be":
		return "arm64"
	case strings.HasPrefix(m, "armv") || m == "arm":
		return "arm"
	case m == "i386" || m == "i486" || m == "i586" || m == "i686" || m == "x86":
		return "386"
	default:
		return m
	}
}
