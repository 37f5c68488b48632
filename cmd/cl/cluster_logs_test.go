package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/queue"
)

// TestClusterLogsCleanedOnATerminal: a log line shipped by a hostile host
// (escape sequences, a carriage return, a right-to-left override) is shown
// escaped by cl cluster logs on a terminal and kept as it is in a pipe.
func TestClusterLogsCleanedOnATerminal(t *testing.T) {
	f := newRedisFleet(t)
	q := f.queue(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const hostile = "job \x1b[2J\x1b]0;pwned\x07 done\r\u202eevil"
	src := queue.ProcSource{Kind: "worker", Host: "webserver01", Role: "webserver"}
	if err := q.ShipLog(ctx, src, 1<<20, []queue.ProcLine{{Source: src, Time: time.Now(), Level: "INFO", Text: hostile}}); err != nil {
		t.Fatal(err)
	}
	tty := &ttyBuffer{}
	a := &App{Globals: &Globals{ConfigPath: f.path, Env: "t", Output: "text"}, Ctx: ctx, Stdout: tty, Stderr: &bytes.Buffer{}}
	if err := (&ClusterLogsCmd{Host: "webserver01"}).Run(a); err != nil {
		t.Fatal(err)
	}
	out := tty.String()
	if strings.ContainsAny(out, "\x1b\x07\r\u202e") || !strings.Contains(out, `worker:webserver01(webserver) INFO job \x1b[2J\x1b]0;pwned\x07 done\x0d\u202eevil`) {
		t.Errorf("on a terminal:\n%q", out)
	}
	out, stderr, code := cl(t, f.args("cluster", "logs", "--grep", "pwned")...)
	if code != 0 || !strings.Contains(out, hostile+"\n") {
		t.Errorf("in a pipe: exit %d %q %s", code, out, stderr)
	}
}
