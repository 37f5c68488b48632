package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/celeroot/celeroot/httpserver"
)

// Health is the body of the health endpoint. Status is "ok" (HTTP 200) when
// the worker is serving its queues and Redis answers, "unavailable" (503)
// otherwise.
type Health struct {
	Status    string    `json:"status"`
	Host      string    `json:"host"`
	Role      string    `json:"role"`
	SHA       string    `json:"sha"`
	Version   string    `json:"version"`
	Serving   bool      `json:"serving"` // false while starting or draining
	Redis     string    `json:"redis"`   // "ok" or the error
	Slots     int       `json:"slots"`
	SlotsBusy int       `json:"slots_busy"`
	Processed int64     `json:"processed"`
	Failed    int64     `json:"failed"`
	Started   time.Time `json:"started"`
}

// healthServer is the running endpoint; a nil one is off.
type healthServer struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

func (h *healthServer) addr() string {
	if h == nil {
		return "off"
	}
	return h.ln.Addr().String()
}

func (h *healthServer) stop() {
	if h == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = h.srv.Shutdown(ctx)
	<-h.done
}

// healthListen returns where the endpoint listens and its path.
func (w *worker) healthListen() (addr, path string, err error) {
	path = "/health"
	raw := w.cfg.Deployment.HealthCheckURL
	if raw != "" {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return "", "", fmt.Errorf("deployment.health_check_url %q: want http://host:port/path", raw)
		}
		if u.Path != "" {
			path = u.Path
		}
		addr = u.Host
		if u.Port() == "" {
			port := "80"
			if u.Scheme == "https" {
				port = "443"
			}
			addr = net.JoinHostPort(u.Hostname(), port)
		}
	}
	if w.o.HealthAddr != "" {
		addr = w.o.HealthAddr
	}
	if addr == "" {
		return "", "", errors.New("no health address: set deployment.health_check_url or pass a listen address")
	}
	return addr, path, nil
}

// startHealth listens on the health address (nil when off).
func (w *worker) startHealth() (*healthServer, error) {
	if w.o.HealthAddr == "-" {
		return nil, nil
	}
	addr, path, err := w.healthListen()
	if err != nil {
		return nil, fmt.Errorf("start health endpoint of %s: %w", w.o.Host, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("start health endpoint of %s on %s: %w (pass --health-addr ADDR, or - for none)", w.o.Host, addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+path, w.serveHealth)
	h := &healthServer{ln: ln, done: make(chan struct{}),
		srv: httpserver.New(mux)}
	go func() {
		defer close(h.done)
		if err := h.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			w.log.Error("health endpoint", "addr", addr, "err", err)
		}
	}()
	return h, nil
}

func (w *worker) serveHealth(rw http.ResponseWriter, req *http.Request) {
	h := w.health(req.Context())
	rw.Header().Set("Content-Type", "application/json")
	rw.Header().Set("Cache-Control", "no-store")
	if h.Status != "ok" {
		rw.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(rw).Encode(h)
}

// health checks Redis and reports the worker's state.
func (w *worker) health(ctx context.Context) Health {
	c := w.now()
	h := Health{Status: "ok", Host: w.o.Host, Role: w.host.Role, SHA: c.sha, Version: w.o.Version,
		Serving: w.serving.Load(), Redis: "ok", Slots: cap(w.slots), SlotsBusy: w.busy(),
		Processed: w.processed.Load(), Failed: w.failed.Load(), Started: c.started}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := w.q.Ping(pctx); err != nil {
		h.Redis = err.Error()
	}
	if h.Redis != "ok" || !h.Serving {
		h.Status = "unavailable"
	}
	return h
}
