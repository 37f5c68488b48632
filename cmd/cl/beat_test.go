package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/deploy/supervise"
	"github.com/celeroot/celeroot/queue/queuetest"
	"github.com/celeroot/celeroot/schedule"
)

func TestBeatDryRun(t *testing.T) {
	const fleet = "../../examples/fleet/cl.yaml"
	out, stderr, code := cl(t, "beat", fleet, "--dry-run", "-n", "2")
	if code != 0 {
		t.Fatalf("code %d: %s", code, stderr)
	}
	for _, want := range []string{"security_updates", "webserver01, webserver02, dbserver01", "America/New_York", "EST", "@redis-backup"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run lacks %q:\n%s", want, out)
		}
	}
	// -c works the same as the positional CONFIG; so does `beat run`.
	out2, _, code := cl(t, "-c", fleet, "-o", "json", "beat", "run", "--dry-run", "--count", "3")
	var rows []schedule.DryRunRow
	if err := json.Unmarshal([]byte(out2), &rows); err != nil || code != 0 {
		t.Fatalf("json: %v, code %d: %s", err, code, out2)
	}
	if len(rows) != 4 {
		t.Fatalf("%d rows", len(rows))
	}
	for _, r := range rows {
		loc, err := time.LoadLocation(r.Timezone)
		if err != nil || len(r.Next) != 3 {
			t.Fatalf("%s: %v, next %v", r.Schedule, err, r.Next)
		}
		_, off := r.Next[0].Zone() // JSON keeps the offset, not the zone
		if _, want := r.Next[0].In(loc).Zone(); off != want {
			t.Errorf("%s: next %v not in %s", r.Schedule, r.Next, r.Timezone)
		}
	}
	if _, stderr, code := cl(t, "beat", filepath.Join(t.TempDir(), "cl.yaml"), "--dry-run"); code != ExitError || !strings.Contains(stderr, "cl config init") {
		t.Errorf("missing config: %d %s", code, stderr)
	}
}

// The beat's pidfile: named after the cluster and env, one beat per
// pidfile (the locking itself is tested in deploy/supervise).
func TestBeatPidfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "beat.pid")
	p, err := lockPidfile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockPidfile(path); err == nil || !strings.Contains(err.Error(), "a beat already runs with pidfile "+path) {
		t.Errorf("second lock: %v", err)
	}
	p.Release()
	if _, err := stopLocal(path, time.Second); !errors.Is(err, supervise.ErrNotRunning) || err.Error() != "no local beat is running (pidfile "+path+")" {
		t.Errorf("stop without a beat: %v", err)
	}
	rt := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", rt)
	noRootPidDir(t)
	if d, err := defaultPidfile("prod", "staging"); err != nil || d != filepath.Join(rt, "celeroot", "beat-prod-staging.pid") {
		t.Errorf("default pidfile %s, %v", d, err)
	}
}

func TestBeatStatusBackupRestore(t *testing.T) {
	if testing.Short() {
		t.Skip("needs redis-server")
	}
	srv := queuetest.StartRedis(t)
	path := initProject(t)
	data, _ := os.ReadFile(path)
	data = []byte(strings.Replace(string(data), "redis://127.0.0.1:6379/0", srv.URL(), 1))
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := cl(t, "-c", path, "-o", "json", "beat", "status")
	var st struct {
		Leader    any
		Namespace string
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || code != 0 || st.Leader != nil || st.Namespace != "myfleet/default" {
		t.Fatalf("status: code %d %v %s %s", code, err, out, stderr)
	}
	if _, _, code := cl(t, "-c", path, "beat", "stop", "--leader", "--timeout", "1s"); code != ExitError {
		t.Errorf("stop --leader without a leader: code %d", code)
	}
	dir := t.TempDir()
	out, stderr, code = cl(t, "-c", path, "beat", "backup", "--dir", dir, "--keep", "1")
	if code != 0 || !strings.Contains(out, ".clbackup.gz") {
		t.Fatalf("backup: %d %s %s", code, out, stderr)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.clbackup.gz"))
	if len(files) != 1 {
		t.Fatalf("files %v", files)
	}
	if _, stderr, code := cl(t, "-c", path, "beat", "restore-backup", files[0]); code != ExitError || !strings.Contains(stderr, "--yes") {
		t.Errorf("restore without --yes: %d %s", code, stderr)
	}
	if out, stderr, code := cl(t, "-c", path, "beat", "restore-backup", files[0], "--yes"); code != 0 || !strings.Contains(out, "restored") {
		t.Errorf("restore: %d %s %s", code, out, stderr)
	}
}

// noRootPidDir makes root's /run/celeroot unusable for the test, so that
// the other directories are tried as for any user.
func noRootPidDir(t *testing.T) {
	old := supervise.RootRunDir
	supervise.RootRunDir = filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(supervise.RootRunDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { supervise.RootRunDir = old })
}
