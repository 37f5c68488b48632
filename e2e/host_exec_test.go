package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/e2e/testhost"
)

// TestHostExec runs cl host exec on real sshd test hosts: each host's
// output prefixed and grouped, a failing host makes exit 1 and is named,
// the next command reuses the connections the mux kept, hostile words
// reach the remote program intact, -o json, a per-host
// timeout kills the remote command, a cut-off host is named, and the run is
// audited with its argv. No worker runs anywhere: SSH is all it needs.
func TestHostExec(t *testing.T) {
	f := testhost.New(t, 3)
	redis := StartRedis(t, f.BridgeIP())
	cfg := WriteFleetConfig(t, t.TempDir(), f, FleetConfig{RedisAddr: redis})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl := func(args ...string) (string, string, int) {
		return RunCL(t, ctx, append([]string{"-c", cfg}, args...)...)
	}

	out, stderr, code := cl("host", "exec", "--all", "--", "sh", "-c", `echo "hello from $(hostname)"; printf 'no newline'; echo warn >&2`)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
	for _, h := range f.Hosts {
		for _, want := range []string{h.Name + " | hello from " + h.Name + "\n", h.Name + " | no newline\n"} {
			if !strings.Contains(out, want) {
				t.Errorf("stdout lacks %q:\n%s", want, out)
			}
		}
		if !strings.Contains(stderr, h.Name+" | warn\n") {
			t.Errorf("stderr lacks %s's line:\n%s", h.Name, stderr)
		}
	}
	if !strings.Contains(out, "HOST") || !strings.Contains(out, "EXIT") || !strings.Contains(out, "DURATION") {
		t.Errorf("no summary table:\n%s", out)
	}

	// The command reached the hosts through this user's mux (ssh.persist),
	// which keeps each connection for the next command.
	muxConns := func() map[string]time.Time {
		t.Helper()
		out, stderr, code := cl("-o", "json", "mux", "status")
		var st struct {
			Running bool `json:"running"`
			Conns   []struct {
				Target string    `json:"target"`
				Since  time.Time `json:"since"`
			} `json:"conns"`
		}
		if err := json.Unmarshal([]byte(out), &st); code != 0 || err != nil || !st.Running {
			t.Fatalf("cl mux status: exit %d, %v\n%s%s", code, err, out, stderr)
		}
		since := map[string]time.Time{}
		for _, h := range f.Hosts {
			for _, c := range st.Conns {
				if strings.HasSuffix(c.Target, "@"+h.Addr+":22") {
					since[h.Name] = c.Since
				}
			}
		}
		return since
	}
	first := muxConns()
	if len(first) != len(f.Hosts) {
		t.Fatalf("the mux holds connections to %v, want all %d hosts", first, len(f.Hosts))
	}

	// One host fails: exit 1, named; the others' output is all there.
	bad := f.Hosts[1].Name
	out, stderr, code = cl("host", "exec", "--all", "--group", "--", "sh", "-c", `hostname; [ "$(hostname)" != "$1" ] || exit 4`, "sh", bad)
	if code != 1 || !strings.Contains(stderr, "1 of 3 hosts failed: "+bad+" (exit 4)") {
		t.Fatalf("failing host: exit %d\n%s%s", code, out, stderr)
	}
	for _, h := range f.Hosts {
		if !strings.Contains(out, "== "+h.Name+": exit ") || !strings.Contains(out, "\n"+h.Name+"\n") {
			t.Errorf("grouped output lacks %s:\n%s", h.Name, out)
		}
	}

	if again := muxConns(); len(again) != len(f.Hosts) || !again[bad].Equal(first[bad]) {
		t.Errorf("the second command did not reuse the mux's connections: %v, then %v", first, again)
	}

	// Hostile words arrive as they were given, one argument each.
	words := []string{"a;b", "$(touch /tmp/pwned)", "`id`", "line1\nline2", `it's "quoted"`, "", "--", "*", "$HOME", "\\", "'", "-n"}
	h0 := f.Hosts[0]
	args := append([]string{"host", "exec", "--target", h0.Name, "--", "sh", "-c", `printf '%s\0' "$@" > /var/lib/celeroot/argv`, "sh"}, words...)
	if out, stderr, code := cl(args...); code != 0 {
		t.Fatalf("hostile argv: exit %d\n%s%s", code, out, stderr)
	}
	got, err := os.ReadFile(h0.Path("/var/lib/celeroot/argv"))
	if err != nil {
		t.Fatal(err)
	}
	if parts := strings.Split(strings.TrimSuffix(string(got), "\x00"), "\x00"); strings.Join(parts, "|") != strings.Join(words, "|") || len(parts) != len(words) {
		t.Errorf("the words arrived as %q, want %q", parts, words)
	}
	if _, err := os.Stat(h0.Path("/tmp/pwned")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a word was run by the remote shell: /tmp/pwned exists (%v)", err)
	}

	// -o json, and a timeout that kills the remote command.
	out, stderr, code = cl("-o", "json", "host", "exec", "--target", h0.Name, "--timeout", "2s", "--",
		"sh", "-c", `echo $$ > /var/lib/celeroot/slow.pid; echo started; exec sleep 60`)
	var rep struct {
		OK    bool
		Argv  []string
		Hosts []struct {
			Host      string
			ExitCode  int `json:"exit_code"`
			Reason    string
			Stdout    string
			Error     string
			Duration  int64 `json:"duration_ns"`
			Unreachab bool  `json:"unreachable"`
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 1 {
		t.Fatalf("json: exit %d, %v\n%s%s", code, err, out, stderr)
	}
	if o := rep.Hosts[0]; rep.OK || o.Reason != "timeout" || o.ExitCode != -1 || o.Stdout != "started\n" || time.Duration(o.Duration) > 10*time.Second {
		t.Errorf("timed out host: %+v", rep)
	}
	pid := strings.TrimSpace(readFile(t, h0.Path("/var/lib/celeroot/slow.pid")))
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat("/proc/" + pid); errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the remote command (pid %s) still runs after the timeout", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A host cut off from the network is named as unreachable.
	cut := f.Hosts[2]
	if err := cut.CutOff(); err != nil {
		t.Fatal(err)
	}
	out, stderr, code = cl("host", "exec", "--all", "--", "true")
	if code != 1 || !strings.Contains(stderr, cut.Name+" (unreachable: timeout)") || !strings.Contains(out, "unreachable") {
		t.Errorf("cut-off host: exit %d\n%s%s", code, out, stderr)
	}
	if err := cut.Restore(); err != nil {
		t.Fatal(err)
	}

	// Every run is in the audit trail with its targets and argv.
	out, stderr, code = cl("-o", "json", "audit", "logs", "--action", "host.exec")
	var recs []struct {
		Action  string
		Targets []string
		Result  string
	}
	if err := json.Unmarshal([]byte(out), &recs); err != nil || code != 0 {
		t.Fatalf("audit logs: exit %d %v\n%s%s", code, err, out, stderr)
	}
	if len(recs) != 5 {
		t.Fatalf("%d host.exec records, want 5: %+v", len(recs), recs)
	}
	found := false
	for _, r := range recs {
		for _, tg := range r.Targets {
			if strings.HasPrefix(tg, "argv:sh -c 'printf '\\''%s\\0'\\''") && strings.Contains(tg, "'$(touch /tmp/pwned)'") {
				found = true
			}
		}
	}
	if !found || !bytes.Contains([]byte(out), []byte(`"host:`+h0.Name+`"`)) {
		t.Errorf("audit records lack the argv or the target:\n%s", out)
	}
}
