package agent

import (
	"encoding/json"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/celeroot/celeroot/reconcile"
)

// Handler serves the agent's HTTP endpoints: /healthz, /metrics,
// /api/v1/status, when hooks is set the webhook receivers under /hooks/,
// and when ui is set the dashboard under /ui/ (/ redirects there).
// deliveries returns the webhook ledger for the status.
func Handler(a *Agent, store reconcile.Store, hooks http.Handler, deliveries func() any, ui http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.Metrics.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /api/v1/status", func(w http.ResponseWriter, r *http.Request) {
		var d any = []any{}
		if deliveries != nil {
			d = deliveries()
		}
		doc := a.Status.Doc(r.Context(), store, d)
		w.Header().Set("Content-Type", "application/json")
		// Compact: an indented encoding of a 500-host status (~300 KB)
		// makes that much garbage again at every poll (pipe it to jq).
		_ = json.NewEncoder(w).Encode(doc)
	})
	if hooks != nil {
		mux.Handle("/hooks/", hooks)
	}
	if ui != nil {
		mux.Handle("/ui/", ui)
		mux.Handle("GET /{$}", http.RedirectHandler("/ui/", http.StatusSeeOther))
	}
	return mux
}
