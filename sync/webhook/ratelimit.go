package webhook

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// RateLimit is the per-client token bucket: a client may send Burst
// deliveries at once, then Rate per second. The zero value means the
// defaults (DefaultRate, DefaultBurst); a negative Rate turns the limit off.
type RateLimit struct {
	Rate  float64
	Burst int
}

// The default rate limit: bursts of 30 deliveries, one a second after that,
// per client. A git host sends one delivery per push; 30 covers a script
// pushing many branches, and GitHub sends from many addresses.
const (
	DefaultRate  = 1.0
	DefaultBurst = 30
)

// maxClients bounds the limiter's memory: with more clients than this
// tracked and none of them idle long enough to be forgotten, new clients are
// refused until some are.
const maxClients = 10000

type bucket struct {
	tokens float64
	last   time.Time
}

// limiter is a token bucket per client address (per /64 for IPv6, which
// one host usually owns whole).
type limiter struct {
	rate, burst float64
	mu          sync.Mutex
	clients     map[netip.Addr]*bucket
	lastPrune   time.Time
}

func newLimiter(rl RateLimit) *limiter {
	if rl.Rate < 0 {
		return nil
	}
	if rl.Rate == 0 {
		rl.Rate = DefaultRate
	}
	if rl.Burst <= 0 {
		rl.Burst = DefaultBurst
	}
	return &limiter{rate: rl.Rate, burst: float64(rl.Burst), clients: make(map[netip.Addr]*bucket)}
}

// allow takes a token from client's bucket at now; false when it has none.
// A nil limiter allows everything.
func (l *limiter) allow(client netip.Addr, now time.Time) bool {
	if l == nil {
		return true
	}
	if client.Is6() {
		if p, err := client.Prefix(64); err == nil {
			client = p.Addr()
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastPrune) > time.Minute {
		l.prune(now)
	}
	b, ok := l.clients[client]
	if !ok {
		if len(l.clients) >= maxClients {
			l.prune(now)
			if len(l.clients) >= maxClients {
				return false
			}
		}
		b = &bucket{tokens: l.burst, last: now}
		l.clients[client] = b
	}
	if now.After(b.last) {
		b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// prune forgets the clients whose bucket has refilled: forgetting them
// changes nothing. Called with l.mu held.
func (l *limiter) prune(now time.Time) {
	l.lastPrune = now
	for k, b := range l.clients {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.clients, k)
		}
	}
}

// clientAddr is the address the rate limit counts for r: the peer address,
// or, when the peer is a trusted proxy, the right-most address in
// X-Forwarded-For that is not a trusted proxy.
func clientAddr(r *http.Request, trusted []netip.Prefix) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	peer = peer.Unmap()
	if !inAny(peer, trusted) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return peer // a hop we cannot read: count the proxy, not a client-chosen value
		}
		a = a.Unmap()
		if !inAny(a, trusted) {
			return a
		}
	}
	return peer
}

func inAny(a netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
