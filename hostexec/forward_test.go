package hostexec

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
)

// echoListener accepts connections on 127.0.0.1 and answers each with
// "hello" before closing it.
func echoListener(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hello"))
			c.Close()
		}
	}()
	return ln.Addr().String()
}

func readAll(t *testing.T, d Dialer, addr string) (string, error) {
	c, err := d.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	b, err := io.ReadAll(c)
	return string(b), err
}

// TestDialThroughRealSSHD opens TCP connections from the host's side
// through a real sshd: allowed, refused by the listener (not a forwarding
// refusal), and refused by sshd's AllowTcpForwarding no.
func TestDialThroughRealSSHD(t *testing.T) {
	addr := echoListener(t)
	s := startSSHD(t)
	h, err := s.pool(t).Get(context.Background(), s.target())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := readAll(t, h.(Dialer), addr); err != nil || got != "hello" {
		t.Fatalf("dial %s through sshd: %q, %v", addr, got, err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln.Addr().String()
	ln.Close()
	if _, err := readAll(t, h.(Dialer), closed); err == nil || errors.Is(err, ErrForwardingRefused) {
		t.Fatalf("dial of a closed port: %v, want a connection error that is not ErrForwardingRefused", err)
	}

	s2 := startSSHD(t, "AllowTcpForwarding no")
	h2, err := s2.pool(t).Get(context.Background(), s2.target())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readAll(t, h2.(Dialer), addr); !errors.Is(err, ErrForwardingRefused) {
		t.Fatalf("dial with AllowTcpForwarding no: %v, want ErrForwardingRefused", err)
	}
}

func TestLocalDial(t *testing.T) {
	addr := echoListener(t)
	if got, err := readAll(t, &Local{}, addr); err != nil || got != "hello" {
		t.Fatalf("%q %v", got, err)
	}
}
