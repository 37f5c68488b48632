package main

import (
	"net"
	"os"
	"strings"
	"testing"
)

// An unreachable Redis is one line naming the URL once and saying what to
// do; host add also offers --no-deploy.
func TestUnreachableRedisSaysWhatToDo(t *testing.T) {
	path := initProject(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nobody listens there now
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b = []byte(strings.Replace(string(b), "redis://127.0.0.1:6379/0", "redis://:S3cret@"+addr+"/0", 1))
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"task", "status"}, []string{"is Redis running there?", "cl dev -c " + path, "-c/--env"}},
		{[]string{"host", "add", "web9", "--address", "10.0.0.9", "--role", "default"},
			[]string{"is Redis running there?", "--no-deploy", "deploy lock"}},
	} {
		_, stderr, code := cl(t, append([]string{"-c", path}, c.args...)...)
		if code != ExitError {
			t.Errorf("%v: exit %d, want %d", c.args, code, ExitError)
		}
		msg := strings.TrimSpace(stderr)
		if strings.Count(msg, "\n") != 0 || strings.Count(msg, "connect to redis") != 1 || !strings.Contains(msg, addr) ||
			strings.Contains(msg, "S3cret") {
			t.Errorf("%v: want one line naming %s once, password masked: %q", c.args, addr, msg)
		}
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%v: error lacks %q: %q", c.args, w, msg)
			}
		}
	}
}
