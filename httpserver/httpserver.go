// Package httpserver builds HTTP servers with limits, so none can be held
// open by an idle keep-alive connection, a client that sends its headers
// slowly, or a huge header. The worker's health endpoint is made by New;
// the agent's webhook server (sync/webhook.NewServer) sets the same five
// limits with values of its own. It owns no listener and no routes.
package httpserver

import (
	"net/http"
	"time"
)

// The limits New sets. Handlers that stream for longer than WriteTimeout
// must not be served by these servers.
const (
	ReadHeaderTimeout = 5 * time.Second  // request line and headers
	ReadTimeout       = 10 * time.Second // the whole request, body included
	WriteTimeout      = 15 * time.Second // from the end of the headers to the end of the response
	IdleTimeout       = 60 * time.Second // a keep-alive connection between requests
	MaxHeaderBytes    = 16 << 10         // request line and headers, 16 KiB
)

// New returns a server for h with the limits above. Callers run it with
// Serve(listener) and stop it with Shutdown.
func New(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
	}
}
