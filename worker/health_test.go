package worker

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/httpserver"
)

func getHealth(t *testing.T, url string) (int, Health) {
	t.Helper()
	code, h, err := tryHealth(url)
	if err != nil {
		t.Fatal(err)
	}
	return code, h
}

func tryHealth(url string) (int, Health, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, Health{}, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	var h Health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return 0, Health{}, fmt.Errorf("decode health from %s: %w", url, err)
	}
	return resp.StatusCode, h, nil
}

func TestHealthEndpoint(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	f := newFixture(t, roleOpts{concurrency: 2, healthPort: port})
	w := f.start(func(o *Options) { o.HealthAddr = "" }) // from deployment.health_check_url
	url := fmt.Sprintf("http://127.0.0.1:%d/health", port)
	var h Health
	waitFor(t, 5*time.Second, "a healthy answer", func() bool {
		code, got, err := tryHealth(url)
		h = got
		return err == nil && code == http.StatusOK
	})
	if h.Status != "ok" || h.SHA != "abc123" || h.Redis != "ok" || h.Host != "h1" || h.Role != "app" || h.Slots != 2 || !h.Serving {
		t.Errorf("healthy answer %+v", h)
	}
	f.redis.Stop()
	code, h := getHealth(t, url)
	if code != http.StatusServiceUnavailable || h.Status != "unavailable" || h.Redis == "ok" || h.SHA != "abc123" {
		t.Errorf("with redis down: %d %+v; want 503 with the redis error", code, h)
	}
	if resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/other", port)); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET /other: %d, want 404", resp.StatusCode)
		}
	}
	if err := w.stop(t, 15*time.Second); err != nil {
		t.Errorf("stop with redis down: %v", err)
	}
	if _, err := http.Get(url); err == nil {
		t.Errorf("health endpoint still answers after Run returned")
	}
}

func TestHealthAddressInUseFailsRun(t *testing.T) {
	t.Parallel()
	f := newFixture(t, roleOpts{})
	// Whatever holds the address (another worker, another program): a
	// listener of the test's own, so no race on a port picked and freed.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := l.Addr().String()
	err = Run(t.Context(), Options{Config: f.cfg, Host: "h1", Queue: f.q, HealthAddr: addr, Logger: testLogger(t)})
	if err == nil || !strings.Contains(err.Error(), "address already in use") || !strings.Contains(err.Error(), "--health-addr") {
		t.Errorf("worker on %s, which is taken: %v; want address in use with a hint", addr, err)
	}
}

func TestHealthListen(t *testing.T) {
	t.Parallel()
	cases := []struct{ url, flag, addr, path, err string }{
		{"http://localhost:8000/health", "", "localhost:8000", "/health", ""},
		{"http://10.0.0.5/status/live", "", "10.0.0.5:80", "/status/live", ""},
		{"https://web1/health", "", "web1:443", "/health", ""},
		{"http://localhost:8000", "", "localhost:8000", "/health", ""},
		{"http://localhost:8000/health", "127.0.0.1:9001", "127.0.0.1:9001", "/health", ""},
		{"", "127.0.0.1:9001", "127.0.0.1:9001", "/health", ""},
		{"localhost:8000", "", "", "", "want http://host:port/path"},
		{"", "", "", "", "no health address"},
	}
	for _, c := range cases {
		w := &worker{cfg: &config.Config{Deployment: config.Deployment{HealthCheckURL: c.url}}, o: Options{HealthAddr: c.flag}}
		addr, path, err := w.healthListen()
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: err %v, want %q", c.url, err, c.err)
			}
			continue
		}
		if err != nil || addr != c.addr || path != c.path {
			t.Errorf("%q %q: %q %q %v; want %q %q", c.url, c.flag, addr, path, err, c.addr, c.path)
		}
	}
}

// TestHealthServerHasLimits: the health endpoint is an httpserver.New
// server, so an idle keep-alive connection or a slow client cannot hold it
// open (httpserver's tests show each limit working).
func TestHealthServerHasLimits(t *testing.T) {
	w := &worker{o: Options{Host: "h1", HealthAddr: "127.0.0.1:0"}, cfg: &config.Config{}}
	h, err := w.startHealth()
	if err != nil {
		t.Fatal(err)
	}
	defer h.stop()
	s := h.srv
	if s.ReadHeaderTimeout != httpserver.ReadHeaderTimeout || s.ReadTimeout != httpserver.ReadTimeout ||
		s.WriteTimeout != httpserver.WriteTimeout || s.IdleTimeout != httpserver.IdleTimeout || s.MaxHeaderBytes != httpserver.MaxHeaderBytes {
		t.Fatalf("health server limits: header %v read %v write %v idle %v max header %d; want httpserver's",
			s.ReadHeaderTimeout, s.ReadTimeout, s.WriteTimeout, s.IdleTimeout, s.MaxHeaderBytes)
	}
}
