package webhook

import (
	"net/http"
	"net/netip"
	"testing"
	"time"
)

func TestLimiterForgetsIdleClients(t *testing.T) {
	l := newLimiter(RateLimit{Rate: 1, Burst: 2})
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	l.allow(a, t0)
	l.allow(b, t0)
	if len(l.clients) != 2 {
		t.Fatalf("%d clients tracked, want 2", len(l.clients))
	}
	// After a minute both buckets are full again: tracking them changes nothing.
	l.allow(a, t0.Add(2*time.Minute))
	if _, ok := l.clients[b]; ok || len(l.clients) != 1 {
		t.Fatalf("idle client still tracked after its bucket refilled: %v", l.clients)
	}
}

func TestLimiterBoundsItsMemory(t *testing.T) {
	l := newLimiter(RateLimit{Rate: 1, Burst: 2})
	base := netip.MustParseAddr("10.0.0.0")
	for i := range maxClients {
		l.allow(addrPlus(base, i), t0)
		l.allow(addrPlus(base, i), t0) // empty the bucket: not forgettable
	}
	if l.allow(netip.MustParseAddr("192.0.2.99"), t0) {
		t.Fatal("a new client was let in with the table full of busy clients")
	}
	if len(l.clients) != maxClients {
		t.Fatalf("%d clients tracked, want at most %d", len(l.clients), maxClients)
	}
	if !l.allow(netip.MustParseAddr("192.0.2.99"), t0.Add(3*time.Second)) {
		t.Fatal("a new client was refused once the others' buckets refilled")
	}
}

func addrPlus(a netip.Addr, n int) netip.Addr {
	for range n {
		a = a.Next()
	}
	return a
}

func TestClientAddr(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	tests := []struct {
		name, remote, xff string
		trusted           []netip.Prefix
		want              string
	}{
		{"peer", "192.0.2.1:443", "", nil, "192.0.2.1"},
		{"untrusted peer's X-Forwarded-For is ignored", "192.0.2.1:443", "198.51.100.7", nil, "192.0.2.1"},
		{"trusted proxy", "10.1.2.3:443", "198.51.100.7", proxies, "198.51.100.7"},
		{"the right-most untrusted hop", "10.1.2.3:443", "203.0.113.9, 198.51.100.7, 10.9.9.9", proxies, "198.51.100.7"},
		{"unreadable hop: the proxy", "10.1.2.3:443", "203.0.113.9, junk", proxies, "10.1.2.3"},
		{"only proxies: the proxy", "10.1.2.3:443", "10.2.2.2", proxies, "10.1.2.3"},
		{"IPv6 proxy", "[::1]:443", "2001:db8::5", proxies, "2001:db8::5"},
		{"IPv4-mapped peer", "[::ffff:192.0.2.1]:443", "", nil, "192.0.2.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodPost, "/", nil)
			r.RemoteAddr = tt.remote
			if tt.xff != "" {
				r.Header.Set("X-Forwarded-For", tt.xff)
			}
			if got := clientAddr(r, tt.trusted).String(); got != tt.want {
				t.Fatalf("client %s, want %s", got, tt.want)
			}
		})
	}
}
