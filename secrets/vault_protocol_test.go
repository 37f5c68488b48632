package secrets

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/celeroot/celeroot/config"
)

// openVault is a vault provider for url with the token root-token.
func openVault(t *testing.T, url string) Provider {
	t.Helper()
	t.Setenv("VAULT_TOKEN", "root-token")
	p, err := Open(&config.Config{Secrets: config.Secrets{Provider: "vault", Endpoint: url, Mount: "kv"}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestVaultDeletedVersion: KV v2 answers a deleted or destroyed version
// with a 404 that holds its metadata and no data.
func TestVaultDeletedVersion(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		switch r.URL.Query().Get("version") {
		case "1":
			w.Write([]byte(`{"data":{"data":null,"metadata":{"version":1,"deletion_time":"2026-01-01T00:00:00Z","destroyed":false}}}`))
		case "2":
			w.Write([]byte(`{"data":{"data":null,"metadata":{"version":2,"deletion_time":"","destroyed":true}}}`))
		default:
			w.Write([]byte(`{"errors":[]}`))
		}
	}))
	defer srv.Close()
	p := openVault(t, srv.URL)
	for v, want := range map[string]string{"1": "version 1 is deleted", "2": "version 2 is destroyed", "": "kv/db: secret not found"} {
		for _, key := range []string{"", "password"} {
			_, err := Lookup(context.Background(), p, Ref{Name: "db", Key: key, Version: v})
			if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), want) {
				t.Errorf("@%s #%s: %v", v, key, err)
			}
		}
	}
}

// TestVaultProtocol: the headers Vault expects, VAULT_NAMESPACE, numbers
// as written, one retry after a 5xx, one redirect followed.
func TestVaultProtocol(t *testing.T) {
	var calls atomic.Int32
	active := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Header.Get("X-Vault-Request") != "true" || r.Header.Get("X-Vault-Token") != "root-token" || r.Header.Get("X-Vault-Namespace") != "team-a" {
			t.Errorf("headers %v", r.Header)
		}
		if calls.Load() == 1 {
			w.WriteHeader(http.StatusInternalServerError)
			w.Write([]byte(`{"errors":["local node not active but active cluster node not found"]}`))
			return
		}
		w.Write([]byte(`{"data":{"data":{"port":5432,"big":12345678901234567890,"on":true},"metadata":{"version":3}}}`))
	}))
	defer active.Close()
	standby := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, active.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	defer standby.Close()
	t.Setenv("VAULT_NAMESPACE", "team-a")
	p := openVault(t, standby.URL)
	for key, want := range map[string]string{"port": "5432", "big": "12345678901234567890", "on": "true"} {
		if v, err := Lookup(context.Background(), p, Ref{Name: "db", Key: key}); v != want || err != nil {
			t.Errorf("#%s = %q, %v", key, v, err)
		}
	}
	if calls.Load() != 4 {
		t.Errorf("%d calls to the active node", calls.Load())
	}
}

func TestVaultErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"errors":["no handler for route \"kv/data/db\". route entry not found."]}`))
	}))
	defer srv.Close()
	_, err := Lookup(context.Background(), openVault(t, srv.URL), Ref{Name: "db", Key: "k"})
	if err == nil || !strings.Contains(err.Error(), "HTTP 400 Bad Request: no handler for route") || strings.Contains(err.Error(), "\n") {
		t.Errorf("%v", err)
	}
	p := openVault(t, srv.URL)
	t.Setenv("VAULT_TOKEN", "bad\ntoken")
	if _, err := p.Get(context.Background(), Ref{Name: "db"}); err == nil || !strings.Contains(err.Error(), "non-printable") || strings.Contains(err.Error(), "bad") {
		t.Errorf("token with a newline: %v", err)
	}
}
