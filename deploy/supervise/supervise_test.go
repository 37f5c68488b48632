package supervise

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary act as `cl supervise run NAME --state-dir
// DIR -- ARGV...`, so Start can spawn it.
func TestMain(m *testing.M) {
	if len(os.Args) > 6 && os.Args[1] == "supervise" && os.Args[2] == "run" {
		o := Options{Files: Files{Name: os.Args[3], Dir: os.Args[5]}, Argv: os.Args[7:],
			MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, StopGrace: time.Second}
		if err := Run(context.Background(), o); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func self(t *testing.T) string {
	p, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func status(t *testing.T, f Files) State {
	t.Helper()
	st, err := ReadStatus(f)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestStartRestartStop(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "starts")
	argv := []string{"/bin/sh", "-c", "echo started >> " + marker + "; echo hello; exec sleep 60"}
	o := Options{Files: Files{Name: "w", Dir: dir}, Argv: argv}
	if err := Start(o, self(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Stop(o.Files, 5*time.Second) })
	// Each child records its start before the test signals it (a signal
	// could otherwise kill it before its echo).
	waitStarts := func(n int) {
		t.Helper()
		waitFor(t, fmt.Sprintf("start %d recorded", n), func() bool { b, _ := os.ReadFile(marker); return strings.Count(string(b), "started") >= n })
	}
	waitFor(t, "child", func() bool { return status(t, o.Files).ChildPID > 0 })
	waitStarts(1)
	st := status(t, o.Files)
	if !st.Running || st.PID == 0 {
		t.Fatalf("status: %+v", st)
	}
	first := st.ChildPID
	// Start again: no second supervisor.
	if err := Start(o, self(t)); err != nil {
		t.Fatal(err)
	}
	if err := Restart(o, self(t)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "restarted child", func() bool { s := status(t, o.Files); return s.ChildPID > 0 && s.ChildPID != first })
	waitStarts(2)
	if st2 := status(t, o.Files); st2.PID != st.PID || st2.Restarts != 1 {
		t.Fatalf("after restart: %+v (before %+v)", st2, st)
	}
	// The child dies: restarted with backoff.
	child := status(t, o.Files).ChildPID
	if p, err := os.FindProcess(child); err == nil {
		p.Kill()
	}
	waitFor(t, "child restarted after a crash", func() bool { s := status(t, o.Files); return s.ChildPID > 0 && s.ChildPID != child })
	if !strings.Contains(status(t, o.Files).LastExit, "killed") {
		t.Errorf("last exit: %q", status(t, o.Files).LastExit)
	}
	waitStarts(3) // before the stop, which could otherwise kill the child before its echo
	if err := Stop(o.Files, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if s := status(t, o.Files); s.Running {
		t.Fatalf("still running: %+v", s)
	}
	last := status(t, o.Files).ChildPID
	if last != 0 {
		t.Fatalf("child pid after stop: %d", last)
	}
	b, _ := os.ReadFile(o.Log())
	if !strings.Contains(string(b), "hello") || !strings.Contains(string(b), "restart requested") {
		t.Errorf("log:\n%s", b)
	}
	starts, _ := os.ReadFile(marker)
	if n := strings.Count(string(starts), "started"); n != 3 {
		t.Errorf("%d starts, want 3", n)
	}
}

func TestRestartWithOtherArgvReplacesSupervisor(t *testing.T) {
	dir := t.TempDir()
	o := Options{Files: Files{Name: "w", Dir: dir}, Argv: []string{"/bin/sleep", "60"}}
	if err := Restart(o, self(t)); err != nil { // not running: starts
		t.Fatal(err)
	}
	t.Cleanup(func() { Stop(o.Files, 5*time.Second) })
	waitFor(t, "child", func() bool { return status(t, o.Files).ChildPID > 0 })
	pid := status(t, o.Files).PID
	o.Argv = []string{"/bin/sleep", "61"}
	if err := Restart(o, self(t)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "new supervisor", func() bool { s := status(t, o.Files); return s.Running && s.PID != pid && s.ChildPID > 0 })
	if got := status(t, o.Files).Argv; got[1] != "61" {
		t.Fatalf("argv %v", got)
	}
}

func TestStopNotRunning(t *testing.T) {
	f := Files{Name: "none", Dir: t.TempDir()}
	if err := Stop(f, time.Second); err != nil {
		t.Fatal(err)
	}
	if st := status(t, f); st.Running || !strings.Contains(st.String(), "not running") {
		t.Fatalf("%+v", st)
	}
}

func TestBadNames(t *testing.T) {
	for _, f := range []Files{{Name: "../x", Dir: "/tmp"}, {Name: "", Dir: "/tmp"}, {Name: "ok", Dir: "relative"}} {
		if _, err := ReadStatus(f); err == nil {
			t.Errorf("%+v accepted", f)
		}
	}
}

func TestCheck(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"sha":"abc"}`)) }))
	defer ok.Close()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	defer bad.Close()
	if line, err := Check(context.Background(), ok.URL, "abc"); err != nil || !strings.Contains(line, "abc") {
		t.Fatalf("%q %v", line, err)
	}
	if _, err := Check(context.Background(), ok.URL, "def"); err == nil {
		t.Fatal("body without the expected text accepted")
	}
	if _, err := Check(context.Background(), bad.URL, ""); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("503: %v", err)
	}
	start := time.Now()
	if _, err := WaitCheck(context.Background(), bad.URL, "", time.Second, 300*time.Millisecond); err == nil || time.Since(start) < 300*time.Millisecond {
		t.Fatalf("wait: %v after %s", err, time.Since(start))
	}
}
