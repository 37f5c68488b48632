package dashboard

import (
	"context"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/celeroot/celeroot/agent"
	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/sync/webhook"
)

// Source is the read model the pages render (*agent.ReadModel).
type Source interface {
	Summary(ctx context.Context) agent.StatusDoc
	Fleet(ctx context.Context) (*agent.FleetView, error)
	Host(ctx context.Context, name string, runs int) (*agent.HostView, bool, error)
	Applies(ctx context.Context, n int) (*agent.AppliesView, error)
	Tasks(ctx context.Context, n int) (*agent.TasksView, error)
	Run(ctx context.Context, id string) (*queue.Run, error)
	Logs(ctx context.Context, id, from string, block time.Duration) ([]queue.LogLine, string, error)
	WebhookDeliveries() ([]webhook.Delivery, bool)
}

// Options configure the dashboard.
type Options struct {
	// Token, when set, is the bearer token every request must carry (a
	// header or the cookie set by ?token=); without it only loopback
	// clients are served.
	Token string
	// PageSize is how many hosts the fleet page shows at once (500 when 0).
	PageSize int
	Log      *slog.Logger
}

//go:embed templates/*.html static/*
var files embed.FS

// Dashboard is the UI's http.Handler.
type Dashboard struct {
	src  Source
	opts Options
	// pages are parsed at the first page asked for: an agent whose
	// dashboard nobody opens does not hold them (~300 KB).
	pages func() map[string]*template.Template
	mux   *http.ServeMux
}

// UI returns the agent's UI option: the dashboard over the agent's read
// model, with opts.
func UI(opts Options) agent.UI {
	return func(rm *agent.ReadModel) http.Handler { return New(rm, opts) }
}

// New returns the dashboard over src.
func New(src Source, opts Options) *Dashboard {
	if opts.PageSize <= 0 {
		opts.PageSize = 500
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	d := &Dashboard{src: src, opts: opts, pages: sync.OnceValue(parsePages), mux: http.NewServeMux()}
	static, _ := fs.Sub(files, "static")
	d.mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", http.FileServerFS(static)))
	d.mux.HandleFunc("GET /ui/{$}", d.fleet)
	d.mux.HandleFunc("GET /ui/hosts/{name}", d.host)
	d.mux.HandleFunc("GET /ui/applies", d.applies)
	d.mux.HandleFunc("GET /ui/applies/{id}", d.apply)
	d.mux.HandleFunc("GET /ui/deliveries", d.deliveries)
	d.mux.HandleFunc("GET /ui/tasks", d.tasks)
	d.mux.HandleFunc("GET /ui/runs/{id}", d.run)
	d.mux.HandleFunc("GET /ui/runs/{id}/log", d.runLog)
	return d
}

// ServeHTTP checks the method and the client, sets the security headers
// and serves the page.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "dashboard: read-only: only GET and HEAD are served", http.StatusMethodNotAllowed)
		return
	}
	if !d.allowed(w, r) {
		return
	}
	d.mux.ServeHTTP(w, r)
}

// CSP is the Content-Security-Policy of every answer: only the dashboard's
// own script, styles and connections; no inline script, no frames.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
