package devfleet

import (
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/celeroot/celeroot/config"
)

// healthAddr gives a local worker its own health endpoint: the port of
// deployment.health_check_url on the host's own loopback address when it is
// free, otherwise a free port on 127.0.0.1. It returns the listen address
// ("-" for none) and the endpoint's URL.
func healthAddr(cfg *config.Config, h *config.Host, used map[string]bool) (addr, healthURL string) {
	u, err := url.Parse(cfg.Deployment.HealthCheckURL)
	if cfg.Deployment.HealthCheckURL == "" || err != nil || u.Host == "" {
		return "-", ""
	}
	port, path := u.Port(), u.Path
	if port == "" {
		port = "8000"
	}
	if path == "" {
		path = "/health"
	}
	if ip := net.ParseIP(h.Address); ip != nil && ip.IsLoopback() {
		addr = net.JoinHostPort(h.Address, port)
	}
	if addr == "" || used[addr] || !canListen(addr) {
		addr = freeLoopbackAddr()
	}
	if addr == "" {
		return "-", ""
	}
	used[addr] = true
	return addr, "http://" + addr + path
}

func canListen(addr string) bool {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

func freeLoopbackAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return ""
	}
	defer l.Close()
	return l.Addr().String()
}

func sortWorkers(ws []Worker) {
	slices.SortFunc(ws, func(a, b Worker) int { return strings.Compare(a.Host, b.Host) })
}
