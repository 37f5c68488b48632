package deploy

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/celeroot/celeroot/hostexec"
)

const testToken = "0123456789abcdef0123456789abcdef"

// writeChunks writes s to m in pieces of n bytes.
func writeChunks(t *testing.T, m *markerSplitter, s string, n int) {
	t.Helper()
	for len(s) > 0 {
		k := min(n, len(s))
		if w, err := m.Write([]byte(s[:k])); w != k || err != nil {
			t.Fatalf("Write: %d, %v", w, err)
		}
		s = s[k:]
	}
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// TestMarkerSplitterSplitsAcrossWrites: whatever the size of the writes
// (markers cut anywhere), the probe's and the stage's output come apart at
// the markers, and what follows the end marker is dropped.
func TestMarkerSplitterSplitsAcrossWrites(t *testing.T) {
	probe := "os=Linux\ncurrent=abc\n@@manifest\nceleroot-manifest v1 abc\n"
	stage := "staged\npruned=old\nswitched\n"
	out := probe + "\n@@ready-" + testToken + "\n" + stage + "\n@@end-" + testToken + "\n" + "late output\n"
	for n := 1; n <= len(out); n++ {
		m := newMarkerSplitter(testToken, 1<<20, 1<<20, nil)
		writeChunks(t, m, out, n)
		if m.probe.String() != probe || m.stage.String() != stage || !isClosed(m.readied) || !isClosed(m.ended) {
			t.Fatalf("writes of %d: probe %q stage %q ready %v end %v", n, m.probe.String(), m.stage.String(), isClosed(m.readied), isClosed(m.ended))
		}
	}
}

// TestMarkerSplitterEndWithoutReady: a probe that fails prints its end
// marker without a ready one: the output is the probe's, ready never comes.
func TestMarkerSplitterEndWithoutReady(t *testing.T) {
	for n := 1; n <= 8; n++ {
		m := newMarkerSplitter(testToken, 1<<20, 1<<20, nil)
		writeChunks(t, m, "os=Linux\n\n@@end-"+testToken+"\n", n)
		if isClosed(m.readied) || !isClosed(m.ended) || m.probe.String() != "os=Linux\n" || m.stage.Len() != 0 {
			t.Fatalf("writes of %d: ready %v end %v probe %q stage %q", n, isClosed(m.readied), isClosed(m.ended), m.probe.String(), m.stage.String())
		}
	}
}

// TestMarkerSplitterIgnoresFakeMarkers: output from the host (a file name
// in the manifest, a task's output) that holds markers with another token,
// a truncated token or no newline does not move the split.
func TestMarkerSplitterIgnoresFakeMarkers(t *testing.T) {
	fakes := "\n@@ready-deadbeef\n\n@@end-deadbeef\n\n@@ready-" + testToken[:31] + "\n\n@@end-\n@@ready-" + testToken + "x\n" +
		"text @@ready-" + testToken + "\n" // not at the start of a line
	probe := "os=Linux\n@@manifest\n" + fakes
	stage := "staged\n" + fakes + "\n@@ready-" + testToken + "\n" // a second ready marker is only output
	out := probe + "\n@@ready-" + testToken + "\n" + stage + "\n@@end-" + testToken + "\n"
	for _, n := range []int{1, 7, 64, len(out)} {
		m := newMarkerSplitter(testToken, 1<<20, 1<<20, nil)
		writeChunks(t, m, out, n)
		if m.probe.String() != probe || m.stage.String() != stage || !isClosed(m.ended) {
			t.Fatalf("writes of %d: probe %q stage %q end %v", n, m.probe.String(), m.stage.String(), isClosed(m.ended))
		}
	}
	m := newMarkerSplitter(testToken, 1<<20, 1<<20, nil)
	writeChunks(t, m, probe, 5)
	if isClosed(m.readied) || isClosed(m.ended) {
		t.Fatal("fake markers ended the probe")
	}
}

// TestMarkerSplitterCaps: output past a part's cap is dropped, and over
// is called once (it stops the command).
func TestMarkerSplitterCaps(t *testing.T) {
	for _, tc := range []struct {
		name, out string
		probe     int
	}{
		{"probe", strings.Repeat("p", 300), 100},
		{"stage", "ok\n\n@@ready-" + testToken + "\n" + strings.Repeat("s", 300), 3},
	} {
		calls := 0
		m := newMarkerSplitter(testToken, 100, 50, func() { calls++ })
		writeChunks(t, m, tc.out, 7)
		writeChunks(t, m, "\n@@end-"+testToken+"\n more", 3)
		if calls != 1 || !isClosed(m.ended) || m.probe.Len() != tc.probe || m.stage.Len() > 50 {
			t.Errorf("%s: over called %d times, ended %v, probe %d bytes, stage %d bytes", tc.name, calls, isClosed(m.ended), m.probe.Len(), m.stage.Len())
		}
	}
}

func TestStageInput(t *testing.T) {
	in, ok := stageInput([]string{"/opt/celeroot", "v2", "", "sv-restart", "a b"})
	if !ok || in != "5\n/opt/celeroot\nv2\n\nsv-restart\na b\n" {
		t.Errorf("got %q %v", in, ok)
	}
	if _, ok := stageInput([]string{"x", "two\nlines"}); ok {
		t.Error("an argument with a newline went on a line")
	}
	if !bytes.Contains([]byte(hostLib), []byte("probestage | stage")) {
		t.Error("the host library does not dispatch probestage")
	}
}

// TestStageSessionLocal runs the host library's probestage on this
// machine: a skip ends the session cleanly; a stage that fails after
// setting its own trap still prints the end marker and removes its
// staging directory; a session whose host exits before the ready marker
// (the library missing) reports that exit.
func TestStageSessionLocal(t *testing.T) {
	ctx := context.Background()
	target := t.TempDir()
	var sent atomic.Int64
	r := &remote{host: &hostexec.Local{Name: "local1"}, name: "local1", target: target, sent: &sent}
	probeArgs := []string{target, "v1", "/nonexistent.service", "celeroot-worker", t.TempDir()}

	s, err := r.startStage(ctx, probeArgs...)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.ready(ctx); ok || err != nil || s.res.ExitCode != libMissing {
		t.Fatalf("without the library: ready %v err %v exit %d, want exit %d before the marker", ok, err, s.res.ExitCode, libMissing)
	}
	if err := r.install(ctx); err != nil {
		t.Fatal(err)
	}

	s, _ = r.startStage(ctx, probeArgs...)
	out, ok, err := s.ready(ctx)
	if !ok || err != nil || !bytes.HasPrefix(out, []byte("os=Linux\n")) {
		t.Fatalf("probe: ready %v err %v output %q", ok, err, out)
	}
	s.end()
	if !isClosed(s.out.ended) || s.err != nil || !s.res.OK() || s.out.stage.Len() != 0 {
		t.Fatalf("skip: ended %v err %v res %+v stage output %q", isClosed(s.out.ended), s.err, s.res, s.out.stage.String())
	}

	// What a killed stage left (statcache's files) goes at the next one.
	for _, f := range []string{".stat-v0-999", ".stat-v0-999.skip"} {
		if err := os.MkdirAll(filepath.Join(target, "releases"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(target, "releases", f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// A stage whose upload is not a tar: untar dies after stage made its
	// staging directory and set its trap.
	s, _ = r.startStage(ctx, probeArgs...)
	if _, ok, _ := s.ready(ctx); !ok {
		t.Fatal("no ready marker")
	}
	in, _ := stageInput([]string{target, "v1", "", "x", "0", "3"})
	res, _, stderr, err := s.send(ctx, in, strings.NewReader("not a tar stream"))
	if err != nil || res.ExitCode != 1 || !strings.Contains(stderr, "unpack release v1") || !isClosed(s.out.ended) {
		t.Fatalf("failed stage: res %+v err %v stderr %q ended %v", res, err, stderr, isClosed(s.out.ended))
	}
	for _, pattern := range []string{".stage-*", ".stat-*"} {
		if left, _ := filepath.Glob(filepath.Join(target, "releases", pattern)); len(left) > 0 {
			t.Errorf("left in releases/: %v", left)
		}
	}
}

// TestActivateReloadsOnlyTheWorkerOfCurrent: activate's "reload PID"
// signals PID only when it runs the very file current/bin/cl is; another
// program (a reused PID) is left alone and the restart command runs.
func TestActivateReloadsOnlyTheWorkerOfCurrent(t *testing.T) {
	ctx := context.Background()
	target := t.TempDir()
	var sent atomic.Int64
	r := &remote{host: &hostexec.Local{Name: "local1"}, name: "local1", target: target, sent: &sent}
	if err := r.install(ctx); err != nil {
		t.Fatal(err)
	}
	rel := filepath.Join(target, "releases", "v2")
	if err := os.MkdirAll(filepath.Join(rel, ".celeroot"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(rel, "bin"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rel, ".celeroot/manifest"), []byte("celeroot-manifest v1 v2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// bin/cl is a copy of sleep: a process started from it runs that file.
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rel, "bin/cl"), b, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		prog   string
		reload bool
	}{
		{"the worker of current", filepath.Join(rel, "bin/cl"), true},
		{"another program", sleep, false},
	} {
		cmd := exec.Command(tc.prog, "30")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		res, stderr, err := r.call(ctx, &out, 1<<20, nil, "activate", target, "v2", "reload", strconv.Itoa(cmd.Process.Pid), "--", "echo", "restarted")
		time.Sleep(50 * time.Millisecond)
		_ = cmd.Process.Kill()
		werr := cmd.Wait()
		if err != nil || !res.OK() {
			t.Fatalf("%s: activate: %v %+v %s", tc.name, err, res, stderr)
		}
		reloaded, restarted := strings.Contains(out.String(), "reloaded\n"), strings.Contains(out.String(), "restarted\n")
		if reloaded != tc.reload || restarted == tc.reload {
			t.Errorf("%s: output %q, want reloaded %v", tc.name, out.String(), tc.reload)
		}
		// sleep dies of the SIGUSR1 it does not handle; else of the kill.
		var ee *exec.ExitError
		signalled := errors.As(werr, &ee) && ee.ProcessState.Sys().(syscall.WaitStatus).Signal() == syscall.SIGUSR1
		if signalled != tc.reload {
			t.Errorf("%s: ended with %v, want SIGUSR1 %v", tc.name, werr, tc.reload)
		}
	}
}
