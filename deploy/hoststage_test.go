package deploy

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The tests of HostLib (hoststage.go) run it and the shell library it
// mirrors on identical fresh trees with identical input, and compare what
// they print, how they exit and the trees they leave.

const hsToken = "c0ffee00c0ffee00c0ffee00c0ffee00"

// TestMain lets the test binary be HostLib, as the host's cl is: with
// CL_TEST_HOSTLIB=1 in its environment it runs HostLib with its arguments
// and exits (a process of its own, so that exec and the PID-named files
// are as on a host).
func TestMain(m *testing.M) {
	if os.Getenv("CL_TEST_HOSTLIB") == "1" {
		os.Exit(HostLib(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	if os.Getenv("CL_TEST_AWAIT_HUP") == "1" {
		awaitHUP()
	}
	os.Exit(m.Run())
}

// awaitHUP is a supervisor's stand-in: exit 42 on SIGHUP, 0 after a
// minute. Unlike sleep, it takes SIGHUP even when the tests run with it
// ignored (nohup), which a child would inherit.
func awaitHUP() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGHUP)
	select {
	case <-c:
		os.Exit(42)
	case <-time.After(time.Minute):
		os.Exit(0)
	}
}

// The two implementations: the shell library, and HostLib.
var hsImpls = []string{"sh", "go"}

type hsResult struct {
	out, errOut string
	code        int
}

// clHost is stderr's "cl-host: " lines.
func (r hsResult) clHost() []string {
	var ls []string
	for _, l := range strings.Split(r.errOut, "\n") {
		if strings.HasPrefix(l, "cl-host: ") {
			ls = append(ls, l)
		}
	}
	return ls
}

// hsRunLib runs the library command args with stdin: "sh" as cl runs the
// shell library (callWrapper sourcing it), "go" as HostLib in this test
// binary.
func hsRunLib(t *testing.T, impl string, args []string, stdin []byte) hsResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var cmd *exec.Cmd
	env := os.Environ()
	switch impl {
	case "sh":
		lib := filepath.Join(t.TempDir(), hostLibName)
		if err := os.WriteFile(lib, hostLib, 0o600); err != nil {
			t.Fatal(err)
		}
		cmd = exec.CommandContext(ctx, "/bin/sh", append([]string{"-c", callWrapper, lib}, args...)...)
	case "go":
		cmd = exec.CommandContext(ctx, os.Args[0], args...)
		env = append(env, "CL_TEST_HOSTLIB=1")
	default:
		t.Fatalf("no implementation %q", impl)
	}
	var out, errOut bytes.Buffer
	cmd.Env, cmd.Stdin, cmd.Stdout, cmd.Stderr = env, bytes.NewReader(stdin), &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	code := 0
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s %v: %v", impl, args, err)
	}
	return hsResult{out.String(), errOut.String(), code}
}

// hsTwin is a pair of hosts, one per implementation, each a directory
// holding a target directory, a state directory and whatever a test adds.
type hsTwin struct {
	t    *testing.T
	root map[string]string
}

func newHSTwin(t *testing.T) *hsTwin {
	base := t.TempDir()
	w := &hsTwin{t: t, root: map[string]string{}}
	for _, impl := range hsImpls {
		w.root[impl] = filepath.Join(base, impl)
		if err := os.MkdirAll(filepath.Join(w.root[impl], "state"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

func (w *hsTwin) target(impl string) string { return w.root[impl] + "/target" }

// each changes both hosts the same way.
func (w *hsTwin) each(fn func(impl, target string) error) {
	w.t.Helper()
	for _, impl := range hsImpls {
		if err := fn(impl, w.target(impl)); err != nil {
			w.t.Fatal(err)
		}
	}
}

// spoilStatRecord appends a malformed line to release v's stat record on
// both hosts: such a record is no record, so every kept file is hashed
// (and recorded when unchanged).
func (w *hsTwin) spoilStatRecord(v string) {
	w.t.Helper()
	w.each(func(impl, tg string) error {
		f, err := os.OpenFile(tg+"/releases/"+v+"/.celeroot/stat", os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = f.WriteString("not an identity\n")
		return err
	})
}

func hsSkip(impl, target string) []byte { return []byte("0\n") }

// probestage runs probestage on both hosts (probing release v) with the
// input input makes for each, compares the results and returns them.
func (w *hsTwin) probestage(step, v string, input func(impl, target string) []byte) map[string]hsResult {
	w.t.Helper()
	res := map[string]hsResult{}
	took := map[string]time.Duration{}
	for _, impl := range hsImpls {
		tg := w.target(impl)
		args := []string{"probestage", hsToken, tg, v, w.root[impl] + "/cl.service", "celeroot-test", w.root[impl] + "/state"}
		in := input(impl, tg)
		start := time.Now()
		res[impl] = hsRunLib(w.t, impl, args, in)
		took[impl] = time.Since(start)
	}
	w.t.Logf("%s: shell %v, Go %v", step, took["sh"].Round(time.Millisecond), took["go"].Round(time.Millisecond))
	w.compare(step, res)
	return res
}

// unpackTail is the end of untar's message: tar's own last line, which
// HostLib words its own way.
var unpackTail = regexp.MustCompile(`^(cl-host: unpack release \S+ into \S+:) .*$`)

func (w *hsTwin) norm(impl, s string) string { return strings.ReplaceAll(s, w.root[impl], "ROOT") }

func (w *hsTwin) compare(step string, res map[string]hsResult) {
	w.t.Helper()
	sh, gor := res["sh"], res["go"]
	w.t.Logf("%s: exit %d %q", step, gor.code, gor.clHost())
	// HostLib says who answered the probe; the shell does not.
	goOut := strings.Replace(gor.out, "have_sha256sum=1\nhelper=cl\n", "have_sha256sum=1\n", 1)
	if goOut == gor.out && strings.Contains(gor.out, "have_sha256sum=1\n") {
		w.t.Errorf("%s: HostLib's probe lacks helper=cl: %q", step, gor.out)
	}
	if a, b := w.norm("sh", sh.out), w.norm("go", goOut); a != b {
		w.t.Errorf("%s: stdout differs:\nshell: %q\nGo:    %q", step, a, b)
	}
	if sh.code != gor.code {
		w.t.Errorf("%s: exit status: shell %d, Go %d (stderr: shell %q, Go %q)", step, sh.code, gor.code, sh.errOut, gor.errOut)
	}
	lines := func(impl string) string {
		var ls []string
		for _, l := range res[impl].clHost() {
			ls = append(ls, unpackTail.ReplaceAllString(w.norm(impl, l), "$1 ..."))
		}
		return strings.Join(ls, "\n")
	}
	if a, b := lines("sh"), lines("go"); a != b {
		w.t.Errorf("%s: cl-host lines differ:\nshell: %q\nGo:    %q\n(stderr: shell %q, Go %q)", step, a, b, sh.errOut, gor.errOut)
	}
}

// hsNode is what the tree comparison looks at for one path.
type hsNode struct {
	Kind   string
	Mode   fs.FileMode
	Data   string // a file's sha256; a stat record's header, paths and sizes
	Target string
	MTime  int64  // files and links of releases, but their manifest and stat record
	Links  string // the other paths sharing a regular file's inode
}

func hsSnapshot(t *testing.T, target string) map[string]hsNode {
	t.Helper()
	nodes := map[string]hsNode{}
	inodes := map[[2]uint64][]string{}
	err := filepath.WalkDir(target, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(target, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		n := hsNode{Mode: fi.Mode()}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			n.Kind = "link"
			n.Target, _ = os.Readlink(p)
		case fi.IsDir():
			n.Kind = "dir"
		case fi.Mode().IsRegular():
			n.Kind = "file"
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if strings.HasSuffix(rel, "/.celeroot/stat") {
				n.Data = hsNormStat(string(data))
			} else {
				sum := sha256.Sum256(data)
				n.Data = hex.EncodeToString(sum[:8])
			}
			k := [2]uint64{uint64(st.Dev), st.Ino}
			inodes[k] = append(inodes[k], rel)
		default:
			n.Kind = "other"
		}
		if f := strings.SplitN(rel, "/", 3); len(f) == 3 && f[0] == "releases" && n.Kind != "dir" &&
			f[2] != ".celeroot/manifest" && f[2] != ".celeroot/stat" {
			n.MTime = fi.ModTime().UnixNano()
		}
		nodes[rel] = n
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, paths := range inodes {
		for _, p := range paths {
			var others []string
			for _, o := range paths {
				if o != p {
					others = append(others, o)
				}
			}
			sort.Strings(others)
			n := nodes[p]
			n.Links = strings.Join(others, ",")
			nodes[p] = n
		}
	}
	return nodes
}

// hsNormStat reduces a stat record to what two hosts share: its header and
// each line's path and size.
func hsNormStat(data string) string {
	var b strings.Builder
	for i, l := range awkRecords([]byte(data)) {
		if i == 0 {
			b.WriteString(l + "\n")
			continue
		}
		id, p, ok := statID(l)
		if !ok {
			b.WriteString("BAD " + l + "\n")
			continue
		}
		b.WriteString(p + " " + strings.Fields(id)[1] + "\n")
	}
	return b.String()
}

// trees compares the two hosts' target directories; for each release of
// fresh (just staged), its stat record must be the files' identities now
// as GNU stat prints them. It returns the paths fresh[0]'s record lists.
func (w *hsTwin) trees(step string, fresh ...string) map[string]bool {
	w.t.Helper()
	a, b := hsSnapshot(w.t, w.target("sh")), hsSnapshot(w.t, w.target("go"))
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		na, oka := a[k]
		nb, okb := b[k]
		switch {
		case !oka:
			w.t.Errorf("%s: %s only in Go's tree: %+v", step, k, nb)
		case !okb:
			w.t.Errorf("%s: %s only in the shell's tree: %+v", step, k, na)
		case na != nb:
			w.t.Errorf("%s: %s differs:\nshell: %+v\nGo:    %+v", step, k, na, nb)
		}
	}
	var recorded map[string]bool
	for i, v := range fresh {
		for _, impl := range hsImpls {
			got := hsCheckStatRecord(w.t, step+" ("+impl+")", w.target(impl)+"/releases/"+v, v)
			if i == 0 && impl == "go" {
				recorded = got
			}
		}
	}
	return recorded
}

// hsCheckStatRecord checks that release dir's stat record lists each
// file as GNU stat prints it now, and returns the paths it lists.
func hsCheckStatRecord(t *testing.T, step, dir, v string) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(dir + "/.celeroot/stat")
	if err != nil {
		t.Errorf("%s: no stat record: %v", step, err)
		return nil
	}
	lines := awkRecords(data)
	if len(lines) == 0 || lines[0] != "celeroot-stat v1 "+v {
		t.Errorf("%s: stat record header %q", step, lines)
		return nil
	}
	paths := map[string]bool{}
	args := []string{"-c", "%i %s %.9Y %.9Z %n", "--"}
	for _, l := range lines[1:] {
		_, p, ok := statID(l)
		if !ok {
			t.Errorf("%s: stat record line %q", step, l)
			continue
		}
		paths[p] = true
		args = append(args, p)
	}
	if len(paths) == 0 {
		return paths
	}
	cmd := exec.Command("stat", args...)
	cmd.Dir = dir
	now, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: stat: %v", step, err)
	}
	if want := strings.Join(lines[1:], "\n") + "\n"; string(now) != want {
		t.Errorf("%s: stat record is not the files' identities now:\nrecord: %q\nstat:   %q", step, want, now)
	}
	return paths
}

// hsVersion is a release version (a commit's full SHA).
func hsVersion(n int) string { return strings.Repeat(strconv.Itoa(n%10), 40) }

var hsTime0 = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

// hsRelease is release n for a host: files (path → content; a content
// starting with "-> " makes a symbolic link; .sh files are executable),
// bin/cl (a copy of sleep: a process can run it), the worker's
// configuration and credentials.
func hsRelease(t *testing.T, n int, files map[string]string) *HostRelease {
	t.Helper()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep program")
	}
	bin, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	var rf []File
	for p, c := range files {
		switch {
		case strings.HasPrefix(c, "-> "):
			rf = append(rf, newFile(p, ModeSymlink, []byte(c[3:])))
		case strings.HasSuffix(p, ".sh"):
			rf = append(rf, newFile(p, ModeExec, []byte(c)))
		default:
			rf = append(rf, newFile(p, ModeFile, []byte(c)))
		}
	}
	sort.Slice(rf, func(i, j int) bool { return rf[i].Path < rf[j].Path })
	sum := sha256.Sum256(bin)
	v := hsVersion(n)
	hr := &HostRelease{
		Release:     &Release{Version: v, Commit: v, Time: hsTime0.Add(time.Duration(n) * time.Hour), Files: rf},
		Binary:      Binary{Path: sleep, Size: int64(len(bin)), SHA256: hex.EncodeToString(sum[:])},
		files:       rf,
		workerYAML:  []byte("host: \"h1\"\nrole: \"web\"\n"),
		credentials: []byte("redis_url: redis://secret@localhost/0\n"),
	}
	entries := []Entry{
		{Path: BinaryPath, Mode: ModeExec, Size: hr.Binary.Size, SHA256: hr.Binary.SHA256},
		newFile(WorkerConfigPath, ModeFile, hr.workerYAML).Entry,
		newFile(CredentialsPath, ModeFile, hr.credentials).Entry,
	}
	for _, f := range rf {
		entries = append(entries, f.Entry)
	}
	if hr.Manifest, err = NewManifest(v, entries); err != nil {
		t.Fatal(err)
	}
	return hr
}

// hsPayload is what cl sends to stage hr on a host holding base.
func hsPayload(t *testing.T, hr, base *HostRelease, gz, full bool) []byte {
	t.Helper()
	var bm *Manifest
	if base != nil {
		bm = base.Manifest
	}
	parts, err := hr.payload(&payloadCache{}, Diff(bm, hr.Manifest), payloadOptions{gzip: gz, fullManifest: full})
	if err != nil {
		t.Fatal(err)
	}
	return parts.bytes()
}

// hsInput is the staging input: the decision (stage's arguments) and the
// payload.
func hsInput(t *testing.T, args []string, payload []byte) []byte {
	t.Helper()
	in, ok := stageInput(args)
	if !ok {
		t.Fatalf("arguments %q do not go on lines", args)
	}
	return append([]byte(in), payload...)
}

// hsStage is the input staging hr (base: the host's release the delta is
// made against; "" version when nil) with stage's other arguments.
func hsStage(t *testing.T, hr, base *HostRelease, gz, full bool, keep string, cmd ...string) func(impl, target string) []byte {
	payload := hsPayload(t, hr, base, gz, full)
	b, z := "", "0"
	if base != nil {
		b = base.Version
	}
	if gz {
		z = "1"
	}
	return func(impl, target string) []byte {
		return hsInput(t, append([]string{target, hr.Version, b, hr.Manifest.Hash(), z, keep}, cmd...), payload)
	}
}

func hsCopy(m map[string]string) map[string]string {
	c := map[string]string{}
	for k, v := range m {
		c[k] = v
	}
	return c
}

// hsBig is n bytes that do not compress much (a file of its own gzip
// member in the payload).
func hsBig(n int) string {
	var b bytes.Buffer
	sum := sha256.Sum256([]byte("seed"))
	for b.Len() < n {
		b.Write(sum[:])
		sum = sha256.Sum256(sum[:])
	}
	return b.String()[:n]
}

var hsRestart = []string{"/bin/sh", "-c", "echo restarted"}

func hsWant(t *testing.T, step string, r hsResult, code int, parts ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("%s: exit status %d, want %d (stderr %q)", step, r.code, code, r.errOut)
	}
	for _, p := range parts {
		if !strings.Contains(r.out, p) {
			t.Errorf("%s: output %q does not hold %q", step, r.out, p)
		}
	}
}

const hsEnd = "\n@@end-" + hsToken + "\n"

// TestHostLibMatchesShell walks both implementations through a host's
// life: probes, a first release, a restage with a restart, deltas (gzip'd
// and not) with kept files changed on the host, pruning, the failures, a
// repair and the leftovers of killed deploys.
func TestHostLibMatchesShell(t *testing.T) {
	w := newHSTwin(t)
	files1 := map[string]string{
		"README":           "hello\n",
		"tasks/a/one.sh":   "echo one\n",
		"tasks/a/two.sh":   "echo two\n",
		"tasks/c/keep.txt": "kept from release to release\n",
		"lib/readme":       "-> ../README",
		"assets/big.bin":   hsBig(100 << 10),
		"a space/x y.txt":  "spaces\n",
	}
	v1 := hsRelease(t, 1, files1)

	r := w.probestage("probe an empty target", v1.Version, hsSkip)
	hsWant(t, "probe", r["go"], 0, "os=Linux\n", "have_gzip=1\nhave_sha256sum=1\n", "current=\n", "state_ok=1\n@@manifest\n\n@@ready-"+hsToken+"\n")
	if !strings.HasSuffix(r["go"].out, "@@ready-"+hsToken+"\n"+hsEnd) {
		t.Errorf("skip: output %q", r["go"].out)
	}

	r = w.probestage("stage v1", v1.Version, hsStage(t, v1, nil, false, false, "3"))
	hsWant(t, "stage v1", r["go"], 0, "@@ready-"+hsToken+"\nstaged\n"+hsEnd)
	w.trees("stage v1", v1.Version)

	r = w.probestage("probe v1", v1.Version, hsSkip)
	hsWant(t, "probe v1", r["go"], 0, "present="+v1.Manifest.Hash()+"\n", "current=\n")

	// Staged again (its directory is replaced), gzip'd, and switched to.
	r = w.probestage("restage v1", v1.Version, hsStage(t, v1, nil, true, false, "3", hsRestart...))
	hsWant(t, "restage v1", r["go"], 0)
	if !strings.HasSuffix(r["go"].out, "\nstaged\nswitched\nrestarted\n") {
		t.Errorf("restage v1: output %q, want the restart's last", r["go"].out)
	}
	w.trees("restage v1", v1.Version)

	// Changed on the host: README's content (not recorded for v2: the
	// drift check must hash it); big.bin touched only (its content is
	// v1's: recorded again).
	touched := hsTime0.Add(-time.Hour)
	w.each(func(impl, tg string) error {
		rel := tg + "/releases/" + v1.Version
		if err := os.WriteFile(rel+"/README", []byte("changed on the host\n"), 0o600); err != nil {
			return err
		}
		if err := os.Chtimes(rel+"/README", touched, touched); err != nil {
			return err
		}
		return os.Chtimes(rel+"/assets/big.bin", touched, touched)
	})
	files2 := hsCopy(files1)
	files2["tasks/a/one.sh"] = "echo ONE\n"
	delete(files2, "tasks/a/two.sh")
	files2["tasks/b/new.sh"] = "echo new\n"
	v2 := hsRelease(t, 2, files2)
	r = w.probestage("delta v2", v1.Version, hsStage(t, v2, v1, true, false, "2", hsRestart...))
	if !strings.HasSuffix(r["go"].out, "\nstaged\nswitched\nrestarted\n") {
		t.Errorf("delta v2: output %q", r["go"].out)
	}
	rec := w.trees("delta v2", v2.Version)
	for _, p := range []string{"bin/cl", "assets/big.bin", "tasks/c/keep.txt", "tasks/a/one.sh", "a space/x y.txt"} {
		if !rec[p] {
			t.Errorf("delta v2: %s not in the stat record %v", p, rec)
		}
	}
	if rec["README"] || rec["lib/readme"] {
		t.Errorf("delta v2: README (changed on the host) or a link in the stat record %v", rec)
	}
	if !hsSameFile(w.target("go")+"/releases/"+v1.Version+"/tasks/c/keep.txt", w.target("go")+"/releases/"+v2.Version+"/tasks/c/keep.txt") {
		t.Error("delta v2: a kept file is not linked from the base")
	}

	// v1 the oldest, v2 next: v3 with keep_releases 2 prunes v1.
	w.each(func(impl, tg string) error {
		if err := os.Chtimes(tg+"/releases/"+v1.Version, hsTime0, hsTime0); err != nil {
			return err
		}
		return os.Chtimes(tg+"/releases/"+v2.Version, hsTime0.Add(time.Hour), hsTime0.Add(time.Hour))
	})
	w.spoilStatRecord(v2.Version)
	files3 := hsCopy(files2)
	files3["tasks/b/new.sh"] = "echo newer\n"
	v3 := hsRelease(t, 3, files3)
	r = w.probestage("delta v3", v2.Version, hsStage(t, v3, v2, false, false, "2", hsRestart...))
	hsWant(t, "delta v3", r["go"], 0, "staged\npruned="+v1.Version+"\nswitched\nrestarted\n")
	if rec := w.trees("delta v3", v3.Version); len(rec) != 8 || rec["README"] {
		t.Errorf("delta v3: stat record %v, want every regular file but README (still changed)", rec)
	}

	r = w.probestage("probe v3", v3.Version, hsSkip)
	hsWant(t, "probe v3", r["go"], 0, "current="+v3.Version+"\npresent="+v3.Manifest.Hash()+"\n", "@@manifest\n"+string(v3.Manifest.Encode())+"\n@@ready-")

	files4 := hsCopy(files3)
	files4["README"] = "hello again\n"
	v4 := hsRelease(t, 4, files4)
	bad := func(impl, tg string) []byte {
		return hsInput(t, []string{tg, v4.Version, v3.Version, strings.Repeat("0", 64), "0", "2"}, hsPayload(t, v4, v3, false, false))
	}
	r = w.probestage("mismatch", v4.Version, bad)
	hsWant(t, "mismatch", r["go"], manifestMismatch, hsEnd)
	if l := r["go"].clHost(); len(l) != 1 || l[0] != "cl-host: merged manifest of "+v4.Version+" does not match" {
		t.Errorf("mismatch: %q", r["go"].errOut)
	}
	w.trees("mismatch")

	// The whole manifest on a base (cl's retry after a mismatch): count.
	r = w.probestage("whole manifest on a base", v4.Version, hsStage(t, v4, v3, false, true, "5"))
	hsWant(t, "whole manifest on a base", r["go"], 0, "staged\n"+hsEnd)
	w.trees("whole manifest on a base", v4.Version)

	// A payload holding a file its manifest does not list.
	files5 := hsCopy(files4)
	files5["tasks/extra.sh"] = "echo extra\n"
	v5 := hsRelease(t, 5, files5)
	d := Diff(v4.Manifest, v5.Manifest)
	withExtra := *v5
	withExtra.Manifest = hsRelease(t, 5, files4).Manifest
	parts, err := withExtra.payload(&payloadCache{}, d, payloadOptions{fullManifest: true})
	if err != nil {
		t.Fatal(err)
	}
	r = w.probestage("count", v5.Version, func(impl, tg string) []byte {
		return hsInput(t, []string{tg, v5.Version, v4.Version, withExtra.Manifest.Hash(), "0", "5"}, parts.bytes())
	})
	hsWant(t, "count", r["go"], 1, hsEnd)
	w.trees("count")

	// Failures.
	stageArgs := func(tg, gz, base string) []string { return []string{tg, v5.Version, base, v5.Manifest.Hash(), gz, "5"} }
	var noEnd bytes.Buffer
	tw := tar.NewWriter(&noEnd)
	if err := writeTarFile(tw, "README", 0o600, v5, []byte("x\n")); err != nil {
		t.Fatal(err)
	}
	tw.Close()
	for _, f := range []struct {
		name  string
		input func(impl, tg string) []byte
		code  int
	}{
		{"not a tar", func(impl, tg string) []byte { return hsInput(t, stageArgs(tg, "0", ""), []byte("not a tar stream")) }, 1},
		{"not gzip", func(impl, tg string) []byte { return hsInput(t, stageArgs(tg, "1", ""), []byte("not gzip'd")) }, 1},
		{"empty upload", func(impl, tg string) []byte { return hsInput(t, stageArgs(tg, "0", ""), nil) }, 1},
		// GNU tar takes a stream ending in a header for the archive's
		// end, not one ending in a file.
		{"truncated in a header", func(impl, tg string) []byte {
			return hsInput(t, stageArgs(tg, "0", v4.Version), hsPayload(t, v5, v4, false, false)[:700])
		}, 1},
		{"truncated in a file", func(impl, tg string) []byte {
			return hsInput(t, stageArgs(tg, "0", v4.Version), hsPayload(t, v5, v4, false, false)[:1030])
		}, 1},
		{"truncated gzip", func(impl, tg string) []byte {
			p := hsPayload(t, v5, v4, true, false)
			return hsInput(t, stageArgs(tg, "1", v4.Version), p[:len(p)-5])
		}, 1},
		{"no end", func(impl, tg string) []byte { return hsInput(t, stageArgs(tg, "0", ""), noEnd.Bytes()) }, 1},
		{"base without manifest", func(impl, tg string) []byte {
			return hsInput(t, stageArgs(tg, "0", "nosuchrelease"), hsPayload(t, v5, v4, false, false))
		}, 1},
		{"no manifest", func(impl, tg string) []byte {
			return hsInput(t, stageArgs(tg, "0", ""), hsPayload(t, v5, v4, false, false))
		}, 1},
		{"bad input", func(impl, tg string) []byte { return []byte("x1\n") }, 1},
		{"input cut short", func(impl, tg string) []byte { return []byte("3\n" + tg + "\nv\n") }, 1},
		{"no input", func(impl, tg string) []byte { return nil }, 1},
		{"unterminated count", func(impl, tg string) []byte { return []byte("0") }, 1},
	} {
		r = w.probestage(f.name, v5.Version, f.input)
		hsWant(t, f.name, r["go"], f.code, hsEnd)
		if len(r["go"].clHost()) != 1 {
			t.Errorf("%s: stderr %q", f.name, r["go"].errOut)
		}
		w.trees(f.name)
	}

	// A replacement cut short: current dangles, its release moved aside;
	// the probe moves it back.
	w.each(func(impl, tg string) error {
		return os.Rename(tg+"/releases/"+v3.Version, tg+"/releases/.old-"+v3.Version+"-4242")
	})
	r = w.probestage("repair", v3.Version, hsSkip)
	hsWant(t, "repair", r["go"], 0, "current="+v3.Version+"\n")
	w.trees("repair")

	// Leftovers of killed deploys: staging directories and statcache
	// files go, a moved-aside release goes when its replacement is in
	// place and comes back when not.
	w.each(func(impl, tg string) error {
		R := tg + "/releases/"
		for _, d := range []string{".stage-x-1/a/b", ".old-" + v4.Version + "-99/c", ".old-gone-77/d"} {
			if err := os.MkdirAll(R+d, 0o700); err != nil {
				return err
			}
		}
		for _, f := range []string{".stat-y-2", ".stat-y-2.skip"} {
			if err := os.WriteFile(R+f, nil, 0o600); err != nil {
				return err
			}
		}
		for _, d := range []string{"gone", v3.Version, v4.Version} {
			if err := os.Chtimes(R+d, hsTime0, hsTime0); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		return nil
	})
	r = w.probestage("leftovers", v5.Version, hsStage(t, v5, v4, true, false, "3"))
	hsWant(t, "leftovers", r["go"], 0, "staged\n")
	w.trees("leftovers", v5.Version)
	if _, err := os.Stat(w.target("go") + "/releases/gone/d"); err != nil {
		t.Errorf("leftovers: the moved-aside release without a replacement is not back: %v", err)
	}

	// A kept file gone from the base: linking it fails (ln's message).
	w.each(func(impl, tg string) error { return os.Remove(tg + "/releases/" + v5.Version + "/tasks/c/keep.txt") })
	files6 := hsCopy(files5)
	files6["README"] = "six\n"
	v6 := hsRelease(t, 6, files6)
	r = w.probestage("kept file missing", v6.Version, hsStage(t, v6, v5, false, false, "3"))
	hsWant(t, "kept file missing", r["go"], 1, hsEnd)
	if !strings.Contains(r["go"].errOut, "tasks/c/keep.txt") {
		t.Errorf("kept file missing: stderr %q", r["go"].errOut)
	}
	w.trees("kept file missing")
}

// TestHostLibReloadMatchesShell: "reload PID -- RESTART" signals the
// worker when it runs current's bin/cl, and restarts when the PID runs
// another program.
func TestHostLibReloadMatchesShell(t *testing.T) {
	w := newHSTwin(t)
	files1 := map[string]string{"tasks/a/one.sh": "echo one\n", "cl.yaml": "cluster: x\n"}
	v1 := hsRelease(t, 1, files1)
	w.probestage("stage v1", v1.Version, hsStage(t, v1, nil, false, false, "3", hsRestart...))

	start := func(prog string) *exec.Cmd {
		cmd := exec.Command(prog, "60")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd
	}
	files2 := hsCopy(files1)
	files2["tasks/a/one.sh"] = "echo ONE\n"
	v2 := hsRelease(t, 2, files2)
	workers := map[string]*exec.Cmd{}
	for _, impl := range hsImpls {
		// current/bin/cl: v1's, linked into v2 (a task-file change).
		workers[impl] = start(w.target(impl) + "/current/bin/cl")
	}
	payload := hsPayload(t, v2, v1, false, false)
	r := w.probestage("reload", v2.Version, func(impl, tg string) []byte {
		args := []string{tg, v2.Version, v1.Version, v2.Manifest.Hash(), "0", "3", "reload", strconv.Itoa(workers[impl].Process.Pid), "--"}
		return hsInput(t, append(args, hsRestart...), payload)
	})
	hsWant(t, "reload", r["go"], 0, "staged\nswitched\nreloaded\n"+hsEnd)
	for impl, cmd := range workers {
		err := cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGUSR1 {
			t.Errorf("reload (%s): the worker ended with %v, want SIGUSR1", impl, err)
		}
	}
	w.trees("reload", v2.Version)

	sleep, _ := exec.LookPath("sleep")
	w.spoilStatRecord(v2.Version)
	files3 := hsCopy(files2)
	files3["tasks/a/one.sh"] = "echo 1\n"
	v3 := hsRelease(t, 3, files3)
	for _, impl := range hsImpls {
		workers[impl] = start(sleep) // another program
	}
	payload = hsPayload(t, v3, v2, false, false)
	r = w.probestage("no reload", v3.Version, func(impl, tg string) []byte {
		args := []string{tg, v3.Version, v2.Version, v3.Manifest.Hash(), "0", "3", "reload", strconv.Itoa(workers[impl].Process.Pid), "--"}
		return hsInput(t, append(args, hsRestart...), payload)
	})
	hsWant(t, "no reload", r["go"], 0, "staged\nswitched\nrestarted\n")
	for impl, cmd := range workers {
		if err := cmd.Process.Signal(syscall.Signal(0)); err != nil {
			t.Errorf("no reload (%s): the other program was signalled: %v", impl, err)
		}
	}
	w.trees("no reload", v3.Version)
}

// TestHostLibSvRestartMatchesShell: sv-restart SIGHUPs a supervisor that
// runs the same command, and execs `CL supervise restart` otherwise; it
// tightens the state directory and the log.
func TestHostLibSvRestartMatchesShell(t *testing.T) {
	w := newHSTwin(t)
	const name = "celeroot-worker"
	w.each(func(impl, tg string) error {
		st := w.root[impl] + "/sv"
		if err := os.MkdirAll(st, 0o700); err != nil {
			return err
		}
		if err := os.Chmod(st, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(st+"/"+name+".log", []byte("log\n"), 0o600); err != nil {
			return err
		}
		if err := os.Chmod(st+"/"+name+".log", 0o644); err != nil {
			return err
		}
		return os.WriteFile(w.root[impl]+"/fakecl", []byte("#!/bin/sh\necho \"fakecl $*\"\n"), 0o700)
	})
	svArgs := func(impl, tg string) []string {
		return []string{"sv-restart", name, w.root[impl] + "/sv", w.root[impl] + "/fakecl", tg + "/current/bin/cl", "worker", "--host", "h1"}
	}
	files := map[string]string{"tasks/a/one.sh": "echo one\n"}
	v1 := hsRelease(t, 1, files)
	payload := hsPayload(t, v1, nil, false, false)
	stage := func(hr, base *HostRelease, payload []byte) func(impl, tg string) []byte {
		b := ""
		if base != nil {
			b = base.Version
		}
		return func(impl, tg string) []byte {
			return hsInput(t, append([]string{tg, hr.Version, b, hr.Manifest.Hash(), "0", "3"}, svArgs(impl, tg)...), payload)
		}
	}
	// No supervisor: exec'd `CL supervise restart`.
	r := w.probestage("sv-restart exec", v1.Version, stage(v1, nil, payload))
	want := "staged\nswitched\nfakecl supervise restart " + name + " --state-dir ROOT/sv -- ROOT/target/current/bin/cl worker --host h1\n"
	if got := w.norm("go", r["go"].out); !strings.HasSuffix(got, want) {
		t.Errorf("sv-restart exec: output %q, want it to end with %q", got, want)
	}
	for _, impl := range hsImpls {
		for p, mode := range map[string]fs.FileMode{"/sv": fs.ModeDir | 0o700, "/sv/" + name + ".log": 0o600} {
			if fi, err := os.Stat(w.root[impl] + p); err != nil || fi.Mode() != mode {
				t.Errorf("sv-restart (%s): %s: %v, want mode %v", impl, p, fi.Mode(), mode)
			}
		}
	}
	w.trees("sv-restart exec", v1.Version)

	// A supervisor of the same command: SIGHUP.
	sups := map[string]*exec.Cmd{}
	w.each(func(impl, tg string) error {
		sup := &exec.Cmd{Path: os.Args[0], Args: []string{"cl-supervise-" + name}, Env: append(os.Environ(), "CL_TEST_AWAIT_HUP=1")}
		if err := sup.Start(); err != nil {
			return err
		}
		t.Cleanup(func() { _ = sup.Process.Kill(); _ = sup.Wait() })
		sups[impl] = sup
		st := w.root[impl] + "/sv/" + name
		if err := os.WriteFile(st+".pid", []byte(strconv.Itoa(sup.Process.Pid)+"\n"), 0o600); err != nil {
			return err
		}
		return os.WriteFile(st+".argv", []byte(strings.Join(svArgs(impl, tg)[4:], "\n")+"\n"), 0o600)
	})
	files["tasks/a/one.sh"] = "echo ONE\n"
	v2 := hsRelease(t, 2, files)
	r = w.probestage("sv-restart hup", v2.Version, stage(v2, v1, hsPayload(t, v2, v1, false, false)))
	hsWant(t, "sv-restart hup", r["go"], 0, "staged\nswitched\n"+hsEnd)
	for impl, sup := range sups {
		err := sup.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 42 {
			t.Errorf("sv-restart hup (%s): the supervisor ended with %v, want exit 42 (its SIGHUP)", impl, err)
		}
	}
	w.trees("sv-restart hup", v2.Version)

	// Another command recorded: exec.
	w.each(func(impl, tg string) error {
		return os.WriteFile(w.root[impl]+"/sv/"+name+".argv", []byte("something else\n"), 0o600)
	})
	files["tasks/a/one.sh"] = "echo 1\n"
	v3 := hsRelease(t, 3, files)
	r = w.probestage("sv-restart other argv", v3.Version, stage(v3, v2, hsPayload(t, v3, v2, false, false)))
	if got := w.norm("go", r["go"].out); !strings.HasSuffix(got, "fakecl supervise restart "+name+" --state-dir ROOT/sv -- ROOT/target/current/bin/cl worker --host h1\n") {
		t.Errorf("sv-restart other argv: output %q", got)
	}
	w.trees("sv-restart other argv", v3.Version)
}

// TestHostLibExecFailure: a restart command that cannot run ends like sh
// (127, the end marker still printed).
func TestHostLibExecFailure(t *testing.T) {
	w := newHSTwin(t)
	v1 := hsRelease(t, 1, map[string]string{"README": "x\n"})
	r := w.probestage("exec failure", v1.Version, hsStage(t, v1, nil, false, false, "3", "/nonexistent/restart"))
	hsWant(t, "exec failure", r["go"], 127, "staged\nswitched\n"+hsEnd)
	w.trees("exec failure", v1.Version)
}

// TestHostLibRefusesHostileTars: members with an absolute name, "..", or
// a path through a symbolic link are refused, and nothing is written
// outside the staging directory (which is removed).
func TestHostLibRefusesHostileTars(t *testing.T) {
	type member struct {
		name, link string
		typ        byte
	}
	for _, tc := range []struct {
		name    string
		members []member
	}{
		{"dotdot", []member{{name: "../x"}}},
		{"dotdot inside", []member{{name: "a/../../x"}}},
		{"absolute", []member{{name: "/tmp/hostile-x"}}},
		{"through a symlink", []member{{name: "d", link: "../../outside", typ: tar.TypeSymlink}, {name: "d/x"}}},
		{"through an absolute symlink", []member{{name: "d", link: "OUTSIDE", typ: tar.TypeSymlink}, {name: "d/x"}}},
		{"hard link out", []member{{name: "h", link: "../../outside/x", typ: tar.TypeLink}}},
		{"hard link through a symlink", []member{{name: "d", link: "OUTSIDE", typ: tar.TypeSymlink}, {name: "h", link: "d/x", typ: tar.TypeLink}}},
		{"device", []member{{name: "dev", typ: tar.TypeChar}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			target, outside := root+"/target", root+"/outside"
			if err := os.MkdirAll(outside, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(outside+"/x", []byte("outside\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			tw := tar.NewWriter(&b)
			for _, m := range tc.members {
				h := &tar.Header{Name: m.name, Mode: 0o600, Typeflag: m.typ, Linkname: strings.ReplaceAll(m.link, "OUTSIDE", outside)}
				if m.typ == 0 {
					h.Typeflag, h.Size = tar.TypeReg, 4
				}
				if err := tw.WriteHeader(h); err != nil {
					t.Fatal(err)
				}
				if h.Size > 0 {
					tw.Write([]byte("evil"))
				}
			}
			tw.WriteHeader(&tar.Header{Name: ".celeroot/stage/end", Mode: 0o600, Typeflag: tar.TypeReg})
			tw.Close()
			in := hsInput(t, []string{target, "v1", "", strings.Repeat("0", 64), "0", "3"}, b.Bytes())
			r := hsRunLib(t, "go", []string{"probestage", hsToken, target, "v1", "", "svc", root}, in)
			if r.code != 1 || !strings.Contains(r.errOut, "cl-host: unpack release v1 into "+target+"/releases: tar: ") || !strings.HasSuffix(r.out, hsEnd) {
				t.Errorf("exit %d, stderr %q, stdout %q", r.code, r.errOut, r.out)
			}
			ents, _ := os.ReadDir(outside)
			if len(ents) != 1 {
				t.Errorf("written outside: %v", ents)
			}
			if b, _ := os.ReadFile(outside + "/x"); string(b) != "outside\n" {
				t.Errorf("outside/x is now %q", b)
			}
			if _, err := os.Lstat("/tmp/hostile-x"); err == nil {
				t.Error("wrote /tmp/hostile-x")
			}
			if left, _ := os.ReadDir(target + "/releases"); len(left) != 0 {
				t.Errorf("left in releases/: %v", left)
			}
		})
	}
}

// TestHostLibDiskFullMatchesShell: a release that does not fit fails with
// the same line (directory and free space) on two identical 1 MiB tmpfs.
func TestHostLibDiskFullMatchesShell(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	w := newHSTwin(t)
	w.each(func(impl, tg string) error {
		if err := os.MkdirAll(tg, 0o700); err != nil {
			return err
		}
		if err := syscall.Mount("tmpfs", tg, "tmpfs", 0, "size=1m,mode=0700"); err != nil {
			return fmt.Errorf("mount a tmpfs on %s: %w", tg, err)
		}
		t.Cleanup(func() { _ = syscall.Unmount(tg, syscall.MNT_DETACH) })
		return nil
	})
	v1 := hsRelease(t, 1, map[string]string{"big.bin": hsBig(2 << 20)})
	r := w.probestage("disk full", v1.Version, hsStage(t, v1, nil, false, false, "3"))
	hsWant(t, "disk full", r["go"], 1, hsEnd)
	if l := r["go"].clHost(); len(l) != 1 || !strings.Contains(l[0], "no space left in "+w.target("go")+"/releases to unpack release "+v1.Version+" (") {
		t.Errorf("disk full: %q", r["go"].errOut)
	}
	w.trees("disk full")
}

// TestHostStageStatLine: statLine prints what GNU stat -c '%i %s %.9Y
// %.9Z %n' does (the drift check compares the two).
func TestHostStageStatLine(t *testing.T) {
	if _, err := exec.LookPath("stat"); err != nil {
		t.Skip("no stat")
	}
	dir := t.TempDir()
	paths := []string{"a", "dir/b c", "dir", "link", "empty", "a%s\\x"}
	for _, f := range []struct{ p, data string }{{"a", "hello\n"}, {"dir/b c", hsBig(5000)}, {"empty", ""}, {"a%s\\x", "odd name"}} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, f.p)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f.p), []byte(f.data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("a", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	old := time.Date(2001, 2, 3, 4, 5, 6, 789, time.UTC)
	if err := os.Chtimes(filepath.Join(dir, "a"), old, old); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("stat", append([]string{"-c", "%i %s %.9Y %.9Z %n", "--"}, paths...)...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	for i, p := range paths {
		fi, err := os.Lstat(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		got, ok := statLine(fi, p)
		if !ok || got != want[i] {
			t.Errorf("%s: statLine %q, stat %q", p, got, want[i])
		}
		if id, gp, ok := statID(got); !ok || gp != p || !strings.HasSuffix(id, " ") {
			t.Errorf("statID(%q) = %q %q %v", got, id, gp, ok)
		}
	}
}

// TestHostLibCountSkipsBinarySum: a release sent whole on a base may carry
// .celeroot/cl-sha256, which its manifest does not list.
func TestHostLibCountSkipsBinarySum(t *testing.T) {
	root := t.TempDir()
	target := root + "/target"
	run := func(hr *HostRelease, base string, payload []byte) hsResult {
		in := hsInput(t, []string{target, hr.Version, base, hr.Manifest.Hash(), "0", "3"}, payload)
		return hsRunLib(t, "go", []string{"probestage", hsToken, target, hr.Version, "", "svc", root}, in)
	}
	files := map[string]string{"README": "one\n", "tasks/a.sh": "echo a\n"}
	v1 := hsRelease(t, 1, files)
	if r := run(v1, "", hsPayload(t, v1, nil, false, false)); r.code != 0 {
		t.Fatalf("stage v1: %+v", r)
	}
	files["README"] = "two\n"
	v2 := hsRelease(t, 2, files)
	// The whole-manifest payload, with cl-sha256 before the end when cl
	// does not send it.
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tr := tar.NewReader(bytes.NewReader(hsPayload(t, v2, v1, false, true)))
	sent := false
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		sent = sent || h.Name == ".celeroot/cl-sha256"
		if h.Name == ".celeroot/stage/end" && !sent {
			if err := writeTarFile(tw, ".celeroot/cl-sha256", 0o600, v2, []byte(v2.Binary.SHA256+"\n")); err != nil {
				t.Fatal(err)
			}
		}
		data := new(bytes.Buffer)
		data.ReadFrom(tr)
		tw.WriteHeader(h)
		tw.Write(data.Bytes())
	}
	tw.Close()
	r := run(v2, v1.Version, b.Bytes())
	if r.code != 0 || !strings.Contains(r.out, "\nstaged\n") {
		t.Fatalf("stage v2 with cl-sha256: %+v", r)
	}
	if got, err := os.ReadFile(target + "/releases/" + v2.Version + "/.celeroot/cl-sha256"); err != nil || string(got) != v2.Binary.SHA256+"\n" {
		t.Errorf("cl-sha256: %q %v", got, err)
	}
}

// TestHostLibUnknownCommand: HostLib runs probestage only.
func TestHostLibUnknownCommand(t *testing.T) {
	r := hsRunLib(t, "go", []string{"stage", "x"}, nil)
	if r.code != 1 || r.errOut != "cl-host: unknown command stage\n" || r.out != "" {
		t.Errorf("got %+v", r)
	}
}
