package adhoc_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/celeroot/celeroot/adhoc"
	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/hostexec"
)

// localHosts opens every host as a local process (real fork/exec, process
// groups and kills), except those in down, which are refused.
type localHosts struct{ down map[string]bool }

func (l localHosts) Open(_ context.Context, h *config.Host) (hostexec.Host, error) {
	if l.down[h.Name] {
		return nil, fmt.Errorf("connect to %s: %w", h.Name, hostexec.ErrRefused)
	}
	return &hostexec.Local{Name: h.Name, KillGrace: 200 * time.Millisecond}, nil
}

func hosts(names ...string) []*config.Host {
	out := make([]*config.Host, len(names))
	for i, n := range names {
		out[i] = &config.Host{Name: n}
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a test
// that looks only at the end result.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestStreamedLinesArePrefixedAndWhole(t *testing.T) {
	var stdout, stderr syncBuffer
	// Each host writes 200 lines in pieces that split lines (and a last
	// line without a newline); none may reach the output torn or mixed.
	script := `i=0; while [ $i -lt 200 ]; do printf 'line-%s-' "$i"; printf 'of-%s\n' "$1"; i=$((i+1)); done; printf tail; echo oops >&2`
	names := []string{"web1", "web2", "db1", "db2"}
	rep, err := adhoc.Run(context.Background(), localHosts{}, hosts(names...),
		adhoc.Options{Argv: []string{"sh", "-c", script, "sh", "x"}, Stdout: &stdout, Stderr: &stderr})
	if err != nil || !rep.OK() {
		t.Fatalf("run: %v %+v", err, rep)
	}
	count := map[string]int{}
	for _, line := range strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n") {
		host, text, ok := strings.Cut(line, " | ")
		if !ok {
			t.Fatalf("line without a host prefix: %q", line)
		}
		if text != "tail" && !(strings.HasPrefix(text, "line-") && strings.HasSuffix(text, "-of-x")) {
			t.Fatalf("torn line %q", line)
		}
		count[host]++
	}
	for _, n := range names {
		if count[n] != 201 {
			t.Errorf("%s: %d lines, want 201", n, count[n])
		}
		if !strings.Contains(stderr.String(), n+" | oops\n") {
			t.Errorf("stderr lacks %s's line: %q", n, stderr.String())
		}
	}
}

func TestExitCodesUnreachableAndTimeout(t *testing.T) {
	rep, err := adhoc.Run(context.Background(), localHosts{down: map[string]bool{"gone": true}}, hosts("web1", "gone"),
		adhoc.Options{Argv: []string{"true"}, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || rep.Hosts[0].ExitCode != 0 || !rep.Hosts[1].Unreachable || rep.Hosts[1].Reason != "refused" {
		t.Fatalf("report %+v", rep.Hosts)
	}
	if got := rep.Err().Error(); got != "1 of 2 hosts failed: gone (unreachable: refused)" {
		t.Errorf("error %q", got)
	}

	rep, err = adhoc.Run(context.Background(), localHosts{}, hosts("a", "b"), adhoc.Options{Argv: []string{"sh", "-c", "exit 3"}})
	if err != nil || rep.Err() == nil || rep.Err().Error() != "2 of 2 hosts failed: a (exit 3), b (exit 3)" {
		t.Fatalf("exit 3: %v %v", err, rep.Err())
	}
	if rows := rep.Rows(); rows[0][0] != "a" || rows[0][1] != "3" {
		t.Errorf("rows %v", rows)
	}

	start := time.Now()
	rep, err = adhoc.Run(context.Background(), localHosts{}, hosts("slow"), adhoc.Options{Argv: []string{"sleep", "30"}, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	o := rep.Hosts[0]
	if o.OK() || o.Reason != "timeout" || o.Unreachable || time.Since(start) > 10*time.Second || !strings.Contains(o.Error, "killed") {
		t.Fatalf("timed out host: %+v after %s", o, time.Since(start))
	}
	if got := rep.Err().Error(); got != "1 of 1 hosts failed: slow (timed out)" {
		t.Errorf("error %q", got)
	}
	if rows := rep.Rows(); rows[0][1] != "-" || !strings.HasPrefix(rows[0][3], "timed out after 300ms") {
		t.Errorf("rows %v", rows)
	}
}

func TestGroupedOutputAndCapture(t *testing.T) {
	var stdout, stderr syncBuffer
	rep, err := adhoc.Run(context.Background(), localHosts{}, hosts("h1", "h2", "h3"), adhoc.Options{
		Argv: []string{"sh", "-c", `echo one; sleep 0.05; echo two; printf three; echo err >&2`}, Group: true,
		Stdout: &stdout, Stderr: &stderr, Capture: 5})
	if err != nil || !rep.OK() {
		t.Fatalf("%v %+v", err, rep)
	}
	for _, h := range []string{"h1", "h2", "h3"} {
		block := "== " + h + ": exit 0 ("
		i := strings.Index(stdout.String(), block)
		if i < 0 {
			t.Fatalf("no block for %s in %q", h, stdout.String())
		}
		rest := stdout.String()[i:]
		_, body, _ := strings.Cut(rest, "\n")
		if !strings.HasPrefix(body, "one\ntwo\nthree\n") {
			t.Errorf("%s's block is not whole: %q", h, rest)
		}
		if !strings.Contains(stderr.String(), "== "+h+" (stderr)\nerr\n") {
			t.Errorf("stderr block of %s: %q", h, stderr.String())
		}
	}
	if o := rep.Hosts[0]; o.Stdout != "one\nt" || o.Stderr != "err\n" || !o.Truncated {
		t.Errorf("captured %+v", o)
	}
}

func TestBadCommands(t *testing.T) {
	for _, argv := range [][]string{nil, {""}, {"echo", "a\x00b"}} {
		if _, err := adhoc.Run(context.Background(), localHosts{}, hosts("h"), adhoc.Options{Argv: argv}); err == nil {
			t.Errorf("%q accepted", argv)
		}
	}
	if !errors.Is(adhoc.Check(nil), adhoc.ErrNoCommand) {
		t.Error("empty argv: want ErrNoCommand")
	}
}

// TestHostileWordsSurviveTheRemoteShell checks the quoting the SSH path
// applies (hostexec.QuoteArgs, one word each, a quote written as quote-backslash-quote-quote) through a real
// sh, as sshd's login shell would read it.
func TestHostileWordsSurviveTheRemoteShell(t *testing.T) {
	words := []string{"a;b", "$(id)", "`id`", "line1\nline2", `it's "quoted"`, "", "--", "*", "$HOME", "\\", "'", "a'\\''b"}
	out, err := exec.Command("/bin/sh", "-c", "printf '[%s]' "+hostexec.QuoteArgs(words)).Output()
	if err != nil {
		t.Fatal(err)
	}
	want := ""
	for _, w := range words {
		want += "[" + w + "]"
	}
	if string(out) != want {
		t.Errorf("got %q\nwant %q", out, want)
	}
}
