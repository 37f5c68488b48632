package hostexec

import (
	"os/exec"
	"strings"
	"testing"
)

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"":           "''",
		"abc":        "abc",
		"/a/b-c_d.e": "/a/b-c_d.e",
		"a b":        "'a b'",
		"a'b":        `'a'\''b'`,
		"$(x)":       "'$(x)'",
		"a=b":        "'a=b'",
		"~":          "'~'",
	} {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestQuoteRoundTrip feeds quoted hostile strings through a real sh.
func TestQuoteRoundTrip(t *testing.T) {
	for _, s := range hostileStrings {
		out, err := exec.Command("/bin/sh", "-c", "printf %s "+Quote(s)).Output()
		if err != nil || string(out) != s {
			t.Errorf("%q: got %q, %v", s, out, err)
		}
	}
}

func TestRemoteCommand(t *testing.T) {
	got := remoteCommand(Command{Argv: []string{"echo", "a'b"}, Env: map[string]string{"B": "2", "A": "x y"}, Dir: "/tmp/d d"}, BecomeSudo)
	for _, want := range []string{"exec /bin/sh -c ", pidMarker, `cd '\''/tmp/d d'\''`, `exec sudo -n -- env '\''A=x y'\'' '\''B=2'\''`, `echo '\''a'\''\'\'''\''b'\''`} {
		if !strings.Contains(got, want) {
			t.Errorf("remote command %s\nlacks %s", got, want)
		}
	}
	// The script runs as a shell would run it from sshd.
	out, err := exec.Command("/bin/sh", "-c", remoteCommand(Command{Argv: []string{"printf", "%s|%s", "a'b", "$X"}, Env: map[string]string{"X": "1"}}, "")).CombinedOutput()
	if err != nil || !strings.HasSuffix(string(out), "a'b|$X") || !strings.HasPrefix(string(out), pidMarker) {
		t.Errorf("got %q, %v", out, err)
	}
}

// A /bin/sh script runs in the wrapper's shell with its own $0, $1… and
// environment; with sudo it is exec'd as before.
func TestRemoteCommandRunsScriptInPlace(t *testing.T) {
	script := `printf '%s|' "$0" "$#" "$1" "$2" "$X" "$(pwd)"; exit 3`
	for _, c := range []Command{
		{Argv: []string{"/bin/sh", "-c", script, "zero", "a'b c", "$(id)"}, Env: map[string]string{"X": "x'y"}, Dir: "/tmp"},
		{Argv: []string{"/bin/sh", "-c", script}, Env: map[string]string{"X": "x'y"}, Dir: "/tmp"},
		{Line: script, Env: map[string]string{"X": "x'y"}, Dir: "/tmp"},
	} {
		rc := remoteCommand(c, "")
		if strings.Count(rc, "exec ") != 1 {
			t.Errorf("remote command %s execs more than the wrapper shell", rc)
		}
		want := "zero|2|a'b c|$(id)|x'y|/tmp|"
		if len(c.Argv) != 6 {
			want = "sh|0|||x'y|/tmp|"
		}
		cmd := exec.Command("/bin/sh", "-c", rc)
		out, err := cmd.Output()
		if cmd.ProcessState.ExitCode() != 3 || string(out) != want {
			t.Errorf("%+v: got %q (exit %d, %v), want %q", c, out, cmd.ProcessState.ExitCode(), err, want)
		}
	}
	if rc := remoteCommand(Command{Argv: []string{"/bin/sh", "-c", "true"}}, BecomeSudo); !strings.Contains(rc, "exec sudo -n -- /bin/sh -c true") {
		t.Errorf("a sudo command is not exec'd through sudo: %s", rc)
	}
}

func TestParseHop(t *testing.T) {
	for in, want := range map[string]Hop{
		"bastion":                 {Address: "bastion"},
		"ops@bastion":             {User: "ops", Address: "bastion"},
		"ops@bastion:2222":        {User: "ops", Address: "bastion", Port: 2222},
		"10.0.0.1:22":             {Address: "10.0.0.1", Port: 22},
		"root@[2001:db8::1]:2200": {User: "root", Address: "2001:db8::1", Port: 2200},
		"2001:db8::1":             {Address: "2001:db8::1"},
	} {
		got, err := ParseHop(in)
		if err != nil || got != want {
			t.Errorf("ParseHop(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "user@", "host:0", "host:x", "host:70000"} {
		if _, err := ParseHop(bad); err == nil {
			t.Errorf("ParseHop(%q) succeeded", bad)
		}
	}
}
