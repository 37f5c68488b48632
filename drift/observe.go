package drift

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/hostexec"
	"github.com/celeroot/celeroot/queue"
)

// Heartbeats reads worker heartbeats; queue.Queue implements it.
type Heartbeats interface {
	Worker(ctx context.Context, host string) (hb queue.Heartbeat, ok bool, err error)
}

// HeartbeatLister is a Heartbeats that also reads every live heartbeat at
// once (queue.Queue): Observe then makes one read for all the hosts
// instead of one round trip per host.
type HeartbeatLister interface {
	Heartbeats
	Workers(ctx context.Context) ([]queue.Heartbeat, error)
}

// OpenerFunc adapts a function to Opener (discover dials addresses that
// are not in cl.yaml yet).
type OpenerFunc func(ctx context.Context, h *config.Host) (hostexec.Host, error)

// Open calls f.
func (f OpenerFunc) Open(ctx context.Context, h *config.Host) (hostexec.Host, error) {
	return f(ctx, h)
}

// Worker values of an Observation besides a SHA.
const (
	WorkerNone     = ""  // no live heartbeat
	WorkerNoSource = "?" // no heartbeat source was given (or it failed)
)

// ObserveOptions tunes Observe.
type ObserveOptions struct {
	// TargetDir is deployment.target_directory: whose `current` is read,
	// and whose file system's free space the facts report.
	TargetDir string
	// Heartbeats, when set, gives Worker; nil leaves it WorkerNoSource.
	Heartbeats Heartbeats
	// Parallel is how many hosts are observed at once (64 when zero).
	Parallel int
	// Facts adds the host's facts (OS, kernel, arch, CPUs, memory, disk,
	// clock skew) to the same command.
	Facts bool
	// Service is deployment.service_name: when set, its systemd state is
	// read too (hosts without systemd leave it unknown).
	Service string
	// SupervisorDir is the state directory of `cl supervise` (deploy's
	// StateDir): on hosts without systemd, whether the supervisor of
	// Service runs is read from its pid file there.
	SupervisorDir string
	// Verify checks the files of the release `current` points to against
	// its manifest (Observation.Files); it reads every file of the release.
	Verify bool
	// IgnoreAdded leaves files that are not in the manifest out of the
	// check (a deployment.setup_command may create files in the release).
	IgnoreAdded bool
	// SkipRelease leaves the release `current` points to unread
	// (Observation.Current stays ""): one program fewer on every host when
	// only the facts are wanted.
	SkipRelease bool
	// SkipReleaseList leaves the releases kept on the host unlisted
	// (Observation.Releases stays nil): with it, reading `current` runs
	// no program besides the shell.
	SkipReleaseList bool
	// Timeout bounds each host: connect plus the command (none when zero).
	Timeout time.Duration
	// Progress, when set, is called after each host (from any goroutine,
	// serialised).
	Progress func(done, total int, o Observation)
}

// Observation is what one look at a host found.
type Observation struct {
	Host      string `json:"host"`
	Address   string `json:"address"`
	Reachable bool   `json:"reachable"`
	// Reason is short (refused, timeout, auth failed, host key unknown,
	// output too large, ...); Error the whole message.
	Reason  string         `json:"reason,omitempty"`
	Error   string         `json:"error,omitempty"`
	Latency time.Duration  `json:"latency_ns"` // connect + handshake + auth
	HostKey HostKeyVerdict `json:"host_key"`
	// Current is the release `current` points to ("" none).
	Current string `json:"current"`
	// Releases are the release directories kept on the host, newest
	// first (nil when SkipRelease, SkipReleaseList or not reached).
	Releases []string `json:"releases,omitempty"`
	// Worker is the release the worker's heartbeat reports: a SHA,
	// WorkerNone or WorkerNoSource.
	Worker string `json:"worker"`
	// ServiceActive and ServiceEnabled are the systemd unit's state, nil
	// when not known (no Service asked, host down); on hosts without
	// systemd ServiceActive says whether the supervisor runs (with
	// SupervisorDir) and ServiceEnabled stays nil.
	ServiceActive  *bool           `json:"service_active,omitempty"`
	ServiceEnabled *bool           `json:"service_enabled,omitempty"`
	Facts          *hostexec.Facts `json:"facts,omitempty"`
	// WorkerRole is the role the worker's heartbeat reports ("" none).
	WorkerRole string `json:"worker_role,omitempty"`
	// Verified says the live release was checked against its manifest
	// (ObserveOptions.Verify); Files are the differences found, and
	// VerifyError why it could not be checked.
	Verified    bool         `json:"verified,omitempty"`
	Files       []FileChange `json:"files,omitempty"`
	VerifyError string       `json:"verify_error,omitempty"`
}

// Change is how a file of a release differs from its manifest.
type Change string

// Changes of a file.
const (
	FileChanged Change = "changed" // content (or a link's target) differs
	FileMissing Change = "missing" // listed in the manifest, gone
	FileAdded   Change = "added"   // on the host, not in the manifest
)

// FileChange is one file of the live release that differs from its
// manifest, by path relative to the release directory.
type FileChange struct {
	Path   string `json:"path"`
	Change Change `json:"change"`
}

// maxFileChanges caps the differences one host reports.
const maxFileChanges = 200

// Connected reports whether the host was reached and logged into, even if
// the command then failed.
func (o Observation) Connected() bool {
	return o.HostKey == HostKeyVerified || o.HostKey == HostKeyLocal
}

// Status is the observation as `cl host status` prints it.
func (o Observation) Status() HostStatus {
	return HostStatus{Name: o.Host, Address: o.Address, Reachable: o.Reachable, Reason: o.Reason, Error: o.Error,
		Latency: o.Latency, HostKey: o.HostKey, Facts: o.Facts}
}

// MaxObserveOutput caps what one observation reads back from a host.
const MaxObserveOutput = hostexec.MaxFactsOutput + 64<<10

// currentScript prints the release `current` points to; $1 is the target
// directory. It runs first unless ObserveOptions.SkipRelease. Every
// program run counts (20 hosts share a core in the benchmarks, and each
// exec is a few ms there): the shell's own cd -P and pwd -P resolve the
// link ("dir=" the release directory, "releases=" the releases directory,
// both physical), and readlink runs only for a link that does not
// resolve.
const currentScript = `echo '@@current'
if [ -L "$1/current" ]; then h=$PWD
if cd -P -- "$1/current" 2>/dev/null; then printf 'dir='; pwd -P; cd -- "$h" || :
if cd -P -- "$1/releases" 2>/dev/null; then printf 'releases='; pwd -P; cd -- "$h" || :; fi
else printf 'link='; readlink "$1/current" 2>/dev/null || echo; fi
fi
`

// releasesScript lists the releases kept on the host (at most 100, newest
// first: a shell loop, not head, caps the listing). It follows
// currentScript unless ObserveOptions.SkipReleaseList.
const releasesScript = `echo '@@releases'; ls -1t "$1/releases" 2>/dev/null | { n=0; while [ "$n" -lt 100 ] && IFS= read -r l; do echo "$l"; n=$((n + 1)); done; } || :
`

// observeScript prints, when $2 names a service on a systemd host, its
// state, and the manifest check when $3 asks for it. $1 is the target
// directory. FactsScript follows it when facts are asked (its $1, the disk
// path, is the same target directory).
const observeScript = `if [ -n "$2" ] && [ -d /run/systemd/system ]; then
echo '@@service'; echo kind=systemd; systemctl is-active --quiet -- "$2" && echo active=1
systemctl is-enabled --quiet -- "$2" 2>/dev/null && echo enabled=1
elif [ -n "$2" ] && [ -n "$4" ]; then
echo '@@service'; echo kind=supervise
if read -r pid 2>/dev/null <"$4/$2.pid" && kill -0 "$pid" 2>/dev/null; then echo active=1; fi
fi
if [ -n "$3" ]; then
echo '@@verify'
if [ ! -f "$1/current/.celeroot/manifest" ]; then echo 'noverify=the release has no manifest'
elif ! command -v sha256sum >/dev/null 2>&1; then echo 'noverify=no sha256sum on the host'
else (
cd "$1/current" || exit 0
c=/dev/null; [ -f .celeroot/stat ] && [ -r .celeroot/stat ] && c=.celeroot/stat
l=$({ [ "$c" = /dev/null ] || awk -F '\t' 'NR>1 && $2!="120000" {print $1}' .celeroot/manifest |
xargs -d '\n' -r stat -c '%i %s %.9Y %.9Z %n' -- 2>/dev/null; } | awk -F '\t' '
function id(s) { if (!match(s, /^[0-9]+ [0-9]+ [0-9]+\.[0-9]+ [0-9]+\.[0-9]+ /)) return 0; k = substr(s, 1, RLENGTH); p = substr(s, RLENGTH + 1); return p != "" }
FILENAME == ARGV[1] { if (FNR == 1) { v = $0; ok = sub(/^celeroot-stat v1 /, "", v) } else if (ok && id($0)) rec[p] = k; else ok = 0; next }
FILENAME == ARGV[2] { if (id($0) && (p in rec) && rec[p] == k) same[p] = 1; next }
FNR == 1 { if ($0 != "celeroot-manifest v1 " v) ok = 0; next }
$2 != "120000" && !(ok && ($1 in same)) { print $4 "  " $1 }' "$c" /dev/stdin .celeroot/manifest)
[ -z "$l" ] || printf '%s\n' "$l" | LC_ALL=C sha256sum -c 2>/dev/null |
awk '/: FAILED open or read$/ {sub(/: FAILED open or read$/, ""); print "missing=" $0; if (++n >= 200) exit; next}
/: FAILED$/ {sub(/: FAILED$/, ""); print "changed=" $0; if (++n >= 200) exit}'
n=0; awk -F '\t' 'NR>1 && $2=="120000" {print $1 "\t" $5}' .celeroot/manifest | while [ "$n" -lt 200 ] && IFS='	' read -r p t; do
if [ ! -L "$p" ]; then echo "missing=$p"; n=$((n + 1)); elif [ "$(readlink "$p")" != "$t" ]; then echo "changed=$p"; n=$((n + 1)); fi
done
[ "$3" = all ] && find . ! -type d ! -path ./.celeroot/manifest ! -path ./.celeroot/stat ! -path ./.celeroot/cl-sha256 -print |
awk -F '\t' 'NR==FNR {if (FNR>1) m[$1]=1; next} {sub(/^\.\//, "")} !($0 in m) {print "added=" $0; if (++n >= 200) exit}' .celeroot/manifest -
) fi
fi
echo '@@observed'
`

// Observe looks at each host with one command: reachability, the release
// `current` points to, the service state, the facts when asked, and the
// worker's heartbeat from o.Heartbeats. Results come in the order given.
func Observe(ctx context.Context, op Opener, hosts []*config.Host, o ObserveOptions) []Observation {
	if o.Parallel <= 0 {
		o.Parallel = 64
	}
	out := make([]Observation, len(hosts))
	beats := liveHeartbeats(ctx, o.Heartbeats)
	sem := make(chan struct{}, o.Parallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for i, h := range hosts {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			out[i] = observeOne(ctx, op, h, o, beats)
			if o.Progress != nil {
				mu.Lock()
				done++
				o.Progress(done, len(hosts), out[i])
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return out
}

// liveHeartbeats reads every live heartbeat in one go when hb can list
// them; nil when it cannot (or the read failed): then each host's is read
// on its own.
func liveHeartbeats(ctx context.Context, hb Heartbeats) map[string]queue.Heartbeat {
	l, ok := hb.(HeartbeatLister)
	if !ok {
		return nil
	}
	all, err := l.Workers(ctx)
	if err != nil {
		return nil
	}
	m := make(map[string]queue.Heartbeat, len(all))
	for _, b := range all {
		m[b.Host] = b
	}
	return m
}

// observeOne looks at one host; beats, when not nil, holds every live
// heartbeat (a host without one has no live worker).
func observeOne(ctx context.Context, op Opener, h *config.Host, o ObserveOptions, beats map[string]queue.Heartbeat) Observation {
	ob := Observation{Host: h.Name, Address: h.Address, HostKey: HostKeyNotSeen, Worker: WorkerNoSource}
	if o.Heartbeats != nil {
		ob.Worker = WorkerNone
		hb, ok := beats[h.Name]
		if beats == nil {
			var err error
			if hb, ok, err = o.Heartbeats.Worker(ctx, h.Name); err != nil {
				ok = false
			}
		}
		if ok {
			ob.Worker, ob.WorkerRole = hb.SHA, hb.Role
		}
	}
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	fail := func(err error) Observation {
		ob.Reason, ob.Error = reason(err), err.Error()
		return ob
	}
	start := time.Now()
	host, err := op.Open(ctx, h)
	ob.Latency = time.Since(start)
	if err != nil {
		switch {
		case errors.Is(err, hostexec.ErrHostKeyUnknown):
			ob.HostKey = HostKeyUnknown
		case errors.Is(err, hostexec.ErrHostKeyMismatch):
			ob.HostKey = HostKeyMismatch
		}
		return fail(err)
	}
	defer host.Close()
	ob.HostKey = HostKeyVerified
	if hostexec.IsLocal(h) {
		ob.HostKey = HostKeyLocal
	}
	script := observeScript
	if !o.SkipRelease {
		if !o.SkipReleaseList {
			script = releasesScript + script
		}
		script = currentScript + script
	}
	if o.Facts {
		script += hostexec.FactsScript
	}
	var stdout bytes.Buffer
	var stderr tail
	start = time.Now()
	verify := ""
	switch {
	case o.Verify && o.IgnoreAdded:
		verify = "listed"
	case o.Verify:
		verify = "all"
	}
	res, err := host.Run(ctx, hostexec.Command{Argv: []string{"/bin/sh", "-c", script, "sh", o.TargetDir, o.Service, verify, o.SupervisorDir},
		Stdout: &stdout, Stderr: &stderr, MaxStdout: MaxObserveOutput})
	end := time.Now()
	if err != nil {
		return fail(fmt.Errorf("observe %s: %w", h.Name, err))
	}
	out := stdout.String()
	sec := sections(out)
	if _, ok := sec["observed"]; !ok || !res.OK() {
		return fail(fmt.Errorf("observe %s: exit status %d, output %.100q, stderr %q: is /bin/sh a POSIX shell there?", h.Name, res.ExitCode, out, strings.TrimSpace(stderr.String())))
	}
	ob.Current = currentRelease(sec["current"])
	for _, r := range sec["releases"] {
		if r = strings.TrimSpace(r); r != "" {
			ob.Releases = append(ob.Releases, r)
		}
	}
	if svc, ok := sec["service"]; ok {
		active, enabled := false, false
		for _, l := range svc {
			active = active || l == "active=1"
			enabled = enabled || l == "enabled=1"
		}
		ob.ServiceActive = &active
		if slices.Contains(svc, "kind=systemd") {
			ob.ServiceEnabled = &enabled // a supervisor has no boot-time state
		}
	}
	if v, ok := sec["verify"]; ok && ob.Current != "" {
		ob.Files, ob.VerifyError = parseVerify(v)
		ob.Verified = ob.VerifyError == ""
	}
	if o.Facts {
		f, err := hostexec.ParseFacts(out, start, end)
		if err != nil {
			return fail(fmt.Errorf("observe %s: %w", h.Name, err))
		}
		ob.Facts = &f
	}
	ob.Reachable = true
	return ob
}

// parseVerify reads the lines of the verify section.
func parseVerify(lines []string) (files []FileChange, problem string) {
	for _, l := range lines {
		k, v, ok := strings.Cut(l, "=")
		if !ok || v == "" {
			continue
		}
		switch c := Change(k); c {
		case FileChanged, FileMissing, FileAdded:
			if len(files) < maxFileChanges {
				files = append(files, FileChange{Path: v, Change: c})
			}
		case "noverify":
			problem = v
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files, problem
}

// reason is hostexec.Reason, with a cap hit named.
func reason(err error) string {
	if errors.Is(err, hostexec.ErrOutputTooLarge) {
		return "output too large"
	}
	return hostexec.Reason(err)
}

// sections splits "@@name" blocks into their lines.
func sections(out string) map[string][]string {
	m := map[string][]string{}
	cur := ""
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimRight(l, "\r")
		if name, ok := strings.CutPrefix(l, "@@"); ok && name != "" && !strings.ContainsAny(name, " \t") {
			cur = name
			m[cur] = []string{}
			continue
		}
		if cur != "" {
			m[cur] = append(m[cur], l)
		}
	}
	return m
}

// currentRelease reads currentScript's current section: the name of the
// release directory `current` resolves to when that is in the releases
// directory, else where it points (a path, or the link's text when it does
// not resolve), which matches no release.
func currentRelease(lines []string) string {
	var dir, releases, link string
	for _, l := range lines {
		k, v, _ := strings.Cut(strings.TrimSpace(l), "=")
		switch k {
		case "dir":
			dir = v
		case "releases":
			releases = v
		case "link":
			link = v
		}
	}
	switch {
	case dir != "" && releases != "" && path.Dir(dir) == releases:
		return path.Base(dir)
	case dir != "":
		return dir
	}
	return strings.TrimPrefix(link, "releases/")
}

// tail keeps the last 2 KiB written to it, for error messages.
type tail struct{ b []byte }

func (t *tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if over := len(t.b) - 2048; over > 0 {
		t.b = t.b[over:]
	}
	return len(p), nil
}

func (t *tail) String() string { return string(t.b) }
