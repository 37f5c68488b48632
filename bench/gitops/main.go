// Command gitops measures the agent's poll with no change: it clones a
// branch with sync.Source (the agent's git source), then times -n Fetch
// calls that find nothing new, through a counting TCP proxy in front of the
// git server, so the bytes on the wire are counted too. It prints one line:
//
//	fetches=N median_ms=M p90_ms=P max_ms=X sent_bytes=S recv_bytes=R
//
// sent/recv are per fetch (medians), seen from the agent.
//
//	go run ./bench/gitops -upstream 127.0.0.1:9418 -repo fleet.git [-branch main] [-n 20]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"sync/atomic"
	"time"

	gitsync "github.com/celeroot/celeroot/sync"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/gitops:", err)
		os.Exit(1)
	}
}

func run() error {
	upstream := flag.String("upstream", "", "address of the git daemon (host:port)")
	repo := flag.String("repo", "", "repository path on the daemon, e.g. fleet.git")
	branch := flag.String("branch", "main", "branch to track")
	n := flag.Int("n", 20, "no-op fetches to time")
	flag.Parse()
	if *upstream == "" || *repo == "" || *n < 1 {
		return fmt.Errorf("-upstream, -repo and -n ≥ 1 are needed: see the usage in bench/gitops/main.go")
	}
	p, err := startProxy(*upstream)
	if err != nil {
		return err
	}
	defer p.ln.Close()
	dir, err := os.MkdirTemp("", "cl-bench-gitops-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	src, err := gitsync.NewSource(gitsync.SourceOptions{
		URL: fmt.Sprintf("git://%s/%s", p.ln.Addr(), *repo), Branch: *branch, Dir: dir, Timeout: 30 * time.Second})
	if err != nil {
		return err
	}
	ctx := context.Background()
	head, err := src.Fetch(ctx) // the clone
	if err != nil {
		return err
	}
	var ms []float64
	var sent, recv []int64
	for i := 0; i < *n; i++ {
		s0, r0 := p.sent.Load(), p.recv.Load()
		start := time.Now()
		got, err := src.Fetch(ctx)
		d := time.Since(start)
		if err != nil {
			return err
		}
		if got != head {
			return fmt.Errorf("fetch %d: head moved from %s to %s: nothing may push while this runs", i, head, got)
		}
		// The proxy counts a connection's bytes as they pass; wait for
		// the server's side of the closed connection to be copied.
		p.idle()
		ms = append(ms, float64(d.Microseconds())/1000)
		sent = append(sent, p.sent.Load()-s0)
		recv = append(recv, p.recv.Load()-r0)
	}
	sort.Float64s(ms)
	fmt.Printf("fetches=%d median_ms=%.1f p90_ms=%.1f max_ms=%.1f sent_bytes=%d recv_bytes=%d\n",
		*n, ms[len(ms)/2], ms[len(ms)*9/10], ms[len(ms)-1], medianInt(sent), medianInt(recv))
	return nil
}

// proxy forwards TCP connections to one upstream and counts the bytes: sent
// is client → upstream, recv upstream → client.
type proxy struct {
	ln         net.Listener
	upstream   string
	sent, recv atomic.Int64
	open       atomic.Int64
}

func startProxy(upstream string) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("counting proxy: %w", err)
	}
	p := &proxy{ln: ln, upstream: upstream}
	go p.serve()
	return p, nil
}

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.open.Add(1)
		go p.relay(c)
	}
}

func (p *proxy) relay(c net.Conn) {
	defer p.open.Add(-1)
	defer c.Close()
	u, err := net.Dial("tcp", p.upstream)
	if err != nil {
		return
	}
	defer u.Close()
	done := make(chan struct{})
	go func() {
		n, _ := io.Copy(u, c)
		p.sent.Add(n)
		u.(*net.TCPConn).CloseWrite()
		close(done)
	}()
	n, _ := io.Copy(c, u)
	p.recv.Add(n)
	c.(*net.TCPConn).CloseWrite()
	<-done
}

// idle waits (at most 2 s) until no connection is being relayed.
func (p *proxy) idle() {
	for deadline := time.Now().Add(2 * time.Second); p.open.Load() > 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
}

func medianInt(v []int64) int64 {
	s := append([]int64(nil), v...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
