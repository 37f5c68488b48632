package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/celeroot/celeroot/queue"
)

// beatFleet is a cl.yaml for beat tests: hosts that exist only as queue
// names (no worker consumes, so every run stays in its stream to be
// counted), seconds schedules on role web.
type beatFleet struct {
	Dir       string
	RedisAddr string
	Hosts     []string
	Schedules []string
}

func (f *beatFleet) write(t *testing.T, redisAddr string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "cluster:\n  name: e2ebeat\nredis:\n  url: redis://%s/0\nhosts:\n", redisAddr)
	for i, h := range f.Hosts {
		fmt.Fprintf(&b, "  %s:\n    role: web\n    address: 127.0.0.%d\n", h, i+10)
	}
	b.WriteString("workers:\n  web:\n    concurrency: 1\nschedules:\n")
	for _, s := range f.Schedules {
		fmt.Fprintf(&b, "  %s:\n    cron: \"*/1 * * * * *\"\n    task: ping\n    targets:\n      - role: web\n", s)
	}
	dir := filepath.Join(f.Dir, strings.NewReplacer(":", "_", ".", "_").Replace(redisAddr))
	if err := os.MkdirAll(filepath.Join(dir, "tasks"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "cl.yaml")
	if err := os.WriteFile(path+".tmp", []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
	return path
}

// beatProc is one `cl beat` process, its JSON log in a file.
type beatProc struct {
	ID   string
	Log  string
	cmd  *exec.Cmd
	done chan struct{}
}

func startBeatProc(t *testing.T, cfg, dir, id string, lease time.Duration) *beatProc {
	t.Helper()
	p := &beatProc{ID: id, Log: filepath.Join(dir, id+".log"), done: make(chan struct{})}
	out, err := os.Create(p.Log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(CL(t), "beat", cfg, "--pidfile", filepath.Join(dir, id+".pid"), "--id", id,
		"--lease", lease.String(), "--log-format", "json")
	p.cmd.Stdout, p.cmd.Stderr = out, out
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(p.Log)
			t.Logf("log of beat %s (last 2000 bytes):\n%s", id, b[max(0, len(b)-2000):])
		}
	})
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start beat %s: %v", id, err)
	}
	go func() { _ = p.cmd.Wait(); out.Close(); close(p.done) }()
	t.Cleanup(func() { p.signal(syscall.SIGKILL); <-p.done })
	return p
}

func (p *beatProc) signal(s syscall.Signal) {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(s)
	}
}

func (p *beatProc) kill()      { p.signal(syscall.SIGKILL); <-p.done }
func (p *beatProc) terminate() { p.signal(syscall.SIGTERM); <-p.done }

// logEvent is a line of a beat's JSON log.
type logEvent struct {
	Time       time.Time `json:"time"`
	Msg        string    `json:"msg"`
	Role       string    `json:"role"`
	Recovered  bool      `json:"recovered"`
	Duplicates int       `json:"duplicates"`
	Since      time.Time `json:"since"`       // "leading": when the lease was taken
	ValidUntil time.Time `json:"valid_until"` // "stopped leading": when claiming stopped
}

// events returns the log lines with message msg (and role, if given).
func (p *beatProc) events(t *testing.T, msg, role string) []logEvent {
	t.Helper()
	f, err := os.Open(p.Log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []logEvent
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev logEvent
		if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Msg == msg && (role == "" || ev.Role == role) {
			out = append(out, ev)
		}
	}
	return out
}

// leaderID returns the id of the beat holding the lease ("" when none).
func leaderID(t *testing.T, q *queue.Queue) string {
	t.Helper()
	v, _ := q.LeaseValue(context.Background(), queue.LeaseBeat)
	id, _, _ := strings.Cut(v, "|")
	return id
}

func waitLeader(t *testing.T, q *queue.Queue, within time.Duration, ok func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if id := leaderID(t, q); id != "" && ok(id) {
			return id
		}
		if time.Now().After(deadline) {
			t.Fatalf("no matching leader within %v (now %q)", within, leaderID(t, q))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freezeProxy forwards TCP to an upstream address until frozen: then it
// holds what it reads (a network partition), and delivers it late when
// thawed, so that stale commands of a cut-off beat reach Redis after a new
// leader took over.
type freezeProxy struct {
	ln     net.Listener
	up     string
	frozen atomic.Bool
	wg     sync.WaitGroup
}

func startFreezeProxy(t *testing.T, upstream string) *freezeProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezeProxy{ln: ln, up: upstream}
	p.wg.Go(p.accept)
	t.Cleanup(func() { ln.Close(); p.frozen.Store(false); p.wg.Wait() })
	return p
}

func (p *freezeProxy) Addr() string { return p.ln.Addr().String() }

func (p *freezeProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", p.up)
		if err != nil {
			c.Close()
			continue
		}
		p.wg.Go(func() { p.pipe(u, c) })
		p.wg.Go(func() { p.pipe(c, u) })
	}
}

// pipe copies src to dst, holding data while frozen.
func (p *freezeProxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for p.frozen.Load() {
			time.Sleep(5 * time.Millisecond)
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil { // EOF or closed: the other side is closed by the defers
			return
		}
	}
}
