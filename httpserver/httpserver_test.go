package httpserver

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// serve runs New(ok handler) with its limits shortened by short on a
// loopback port and returns the address.
func serve(t *testing.T, short func(*http.Server)) string {
	t.Helper()
	srv := New(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	short(srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); <-done })
	return ln.Addr().String()
}

// closedWithin reports whether the server closes conn within d.
func closedWithin(t *testing.T, conn net.Conn, r *bufio.Reader, d time.Duration) bool {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(d))
	_, err := r.ReadByte()
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return err != nil
}

func TestNewSetsEveryLimit(t *testing.T) {
	s := New(http.NotFoundHandler())
	if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.WriteTimeout <= 0 || s.IdleTimeout <= 0 || s.MaxHeaderBytes <= 0 {
		t.Fatalf("a limit is unset: %+v", s)
	}
	if s.ReadHeaderTimeout > s.ReadTimeout || s.IdleTimeout < s.ReadTimeout {
		t.Fatalf("limits out of order: header %v read %v idle %v", s.ReadHeaderTimeout, s.ReadTimeout, s.IdleTimeout)
	}
}

func TestIdleKeepAliveConnectionIsClosed(t *testing.T) {
	addr := serve(t, func(s *http.Server) { s.IdleTimeout = 300 * time.Millisecond })
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.Close {
		t.Fatal("the server closed after the first response; the test needs a keep-alive connection")
	}
	if !closedWithin(t, conn, r, 5*time.Second) {
		t.Fatal("an idle keep-alive connection is still open 5s after a 300ms idle timeout")
	}
}

func TestSlowHeadersAreCutOff(t *testing.T) {
	addr := serve(t, func(s *http.Server) { s.ReadHeaderTimeout = 300 * time.Millisecond })
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n"); err != nil { // headers never end
		t.Fatal(err)
	}
	if !closedWithin(t, conn, bufio.NewReader(conn), 5*time.Second) {
		t.Fatal("a connection that never finishes its headers is still open 5s after a 300ms header timeout")
	}
}

func TestHugeHeaderIsRefused(t *testing.T) {
	addr := serve(t, func(*http.Server) {})
	req, err := http.NewRequest("GET", "http://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Big", strings.Repeat("a", 2*MaxHeaderBytes))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("a %d-byte header: status %d, want 431", 2*MaxHeaderBytes, resp.StatusCode)
	}
}
