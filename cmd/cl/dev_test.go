package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	builtCL   string
	buildErr  error
)

// clBinary builds cl once for the tests that need a separate process.
func clBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "cl-test-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtCL = filepath.Join(dir, "cl")
		out, err := exec.Command("go", "build", "-o", builtCL, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtCL
}

// devFleet copies examples/fleet with its dev overlay moved to a free port.
func devFleet(t *testing.T) (path, addr string) {
	t.Helper()
	dir := t.TempDir()
	copyTree(t, "../../examples/fleet", dir)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = l.Addr().String()
	l.Close()
	ov := filepath.Join(dir, "environments", "dev.yaml")
	data, err := os.ReadFile(ov)
	if err != nil || !strings.Contains(string(data), "127.0.0.1:6390") {
		t.Fatalf("examples/fleet/environments/dev.yaml: want redis.url on 127.0.0.1:6390: %v", err)
	}
	os.WriteFile(ov, []byte(strings.ReplaceAll(string(data), "127.0.0.1:6390", addr)), 0o644)
	return filepath.Join(dir, "cl.yaml"), addr
}

// everySecond is a six-field schedule added to the dev fleet, so that the
// test sees cl dev's beat fire within seconds.
const everySecond = `schedules:
  every_second:
    cron: "* * * * * *"
    timezone: UTC
    task: ping
    targets:
      - role: database
    description: "Fires every second (cl dev test)"

`

func TestDevRunsTasksAndStopsOnInterrupt(t *testing.T) {
	t.Parallel()
	bin := clBinary(t)
	path, addr := devFleet(t)
	data, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(data), "\nschedules:\n") {
		t.Fatalf("examples/fleet/cl.yaml: want a schedules: block: %v", err)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(data), "\nschedules:\n", "\n"+everySecond, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", path, "--env", "dev", "dev", "--grace", "2s", "--state-dir", t.TempDir())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	banner := readUntil(t, stdout, "Ctrl-C stops cl dev.", 30*time.Second)
	for _, want := range []string{"FOR DEVELOPMENT ONLY: Redis is in memory", "redis://" + addr,
		"webserver01 (role webserver, 4 slots, release ", "dbserver01", "new: a copy of the config directory",
		"the agent applies each commit", "/api/v1/status (head ", "--env dev task run ping --role ",
		"  beat     dev-", "(leader; 4 schedules: ", "every_second", "--env dev beat status", "--env dev config schedules"} {
		if !strings.Contains(banner, want) {
			t.Fatalf("banner lacks %q:\n%s", want, banner)
		}
	}
	health := between(between(banner, "webserver01 (role webserver, 4 slots, release ", "\n"), "health http://", "/health")

	out, errOut, code := cl(t, "-c", path, "--env", "dev", "task", "run", "ping", "--role", "webserver", "--wait")
	if code != 0 || !strings.Contains(out, "2 of 2 runs succeeded") || !strings.Contains(out, "webserver01 | pong") {
		t.Fatalf("task run ping --wait against cl dev: %d\n%s\n%s", code, out, errOut)
	}
	out, _, code = cl(t, "-c", path, "--env", "dev", "task", "status")
	if code != 0 || !strings.Contains(out, "webserver02") || !strings.Contains(out, "dbserver01") {
		t.Fatalf("task status against cl dev: %d\n%s", code, out)
	}

	// The beat leads, and fires the every-second schedule to dbserver01's
	// worker, which runs it.
	beatID := "dev-" + between(banner, "  beat     dev-", " (")
	var st struct {
		Leader *struct {
			ID string `json:"id"`
		} `json:"leader"`
		Beats []struct {
			ID   string `json:"id"`
			Role string `json:"role"`
		} `json:"beats"`
		Schedules []struct {
			Name string `json:"name"`
			Last *struct {
				Runs map[string]string `json:"runs"`
			} `json:"last"`
			Results map[string]int `json:"results"`
		} `json:"schedules"`
	}
	fired := func() bool {
		out, errOut, code := cl(t, "-c", path, "--env", "dev", "-o", "json", "beat", "status")
		if err := json.Unmarshal([]byte(out), &st); err != nil || code != 0 {
			t.Fatalf("beat status against cl dev: %d %v\n%s\n%s", code, err, out, errOut)
		}
		if st.Leader == nil || st.Leader.ID != beatID || len(st.Beats) != 1 || st.Beats[0].Role != "leader" {
			t.Fatalf("beat status: want %s leading alone, got %s", beatID, out)
		}
		for _, sc := range st.Schedules {
			if sc.Name == "every_second" && sc.Last != nil && sc.Last.Runs["dbserver01"] != "" && sc.Results["succeeded"] > 0 {
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(15 * time.Second)
	for !fired() {
		if time.Now().After(deadline) {
			t.Fatalf("every_second did not fire a run that succeeded within 15s: %+v", st)
		}
		time.Sleep(200 * time.Millisecond)
	}

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, _ = bufio.NewReader(stdout).WriteTo(&strings.Builder{}); done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("cl dev after SIGINT: %v\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("cl dev did not stop within 30s of SIGINT\n%s", stderr.String())
	}
	for _, a := range []string{addr, health} {
		if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after cl dev stopped", a)
		}
	}
	if !strings.Contains(stderr.String(), "everything in it are gone") {
		t.Errorf("no shutdown message:\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "beat="+beatID+" role=stopped") {
		t.Errorf("the beat did not stop cleanly:\n%s", stderr.String())
	}
}

func TestDevRefusesNonLoopbackRedis(t *testing.T) {
	_, stderr, code := cl(t, "-c", "../../examples/fleet/cl.yaml", "dev")
	oneLine(t, stderr, code, "is not a loopback address (fix: use --env dev")
}

func TestDevAddressInUse(t *testing.T) {
	path, addr := devFleet(t)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, stderr, code := cl(t, "-c", path, "--env", "dev", "dev")
	oneLine(t, stderr, code, "change redis.url's port")
}

// readUntil reads lines until one contains marker and returns what it read.
func readUntil(t *testing.T, r interface{ Read([]byte) (int, error) }, marker string, d time.Duration) string {
	t.Helper()
	got := make(chan string, 1)
	var b strings.Builder
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			b.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), marker) {
				got <- b.String()
				return
			}
		}
		got <- b.String()
	}()
	select {
	case s := <-got:
		if !strings.Contains(s, marker) {
			t.Fatalf("output ended without %q:\n%s", marker, s)
		}
		return s
	case <-time.After(d):
		t.Fatalf("no %q within %v", marker, d)
	}
	return ""
}

func between(s, from, to string) string {
	_, rest, _ := strings.Cut(s, from)
	v, _, _ := strings.Cut(rest, to)
	return v
}
