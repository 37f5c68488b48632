package secrets

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/celeroot/celeroot/config"
)

// fakeAzure is a Key Vault (GET /secrets/<name>[/<version>]) and a
// Microsoft identity platform token endpoint (POST
// /<tenant>/oauth2/v2.0/token) on one TLS server. The vault answers a
// request without a valid bearer token with 401 and the challenge naming
// the authority and the resource; the token endpoint issues a token for
// the registered client and the resource's .default scope only.
type fakeAzure struct {
	host      string // vault.test:PORT
	tenant    string
	clientID  string
	secret    string
	secrets   map[string]map[string]string // name → version → value
	latest    map[string]string
	mu        sync.Mutex
	issued    map[string]bool
	tokens    int
	challenge int
}

func (f *fakeAzure) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Method == http.MethodPost && r.URL.Path == "/"+f.tenant+"/oauth2/v2.0/token" {
		r.ParseForm()
		if r.Form.Get("grant_type") != "client_credentials" || r.Form.Get("client_id") != f.clientID || r.Form.Get("client_secret") != f.secret {
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client"})
			return
		}
		if r.Form.Get("scope") != "https://"+f.host+"/.default" {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"error": "invalid_scope"})
			return
		}
		f.tokens++
		tok := "eyJ.fake." + r.Form.Get("client_id") + "." + string(rune('a'+f.tokens))
		f.issued[tok] = true
		json.NewEncoder(w).Encode(map[string]any{"token_type": "Bearer", "access_token": tok, "expires_in": 3600})
		return
	}
	if r.URL.Query().Get("api-version") == "" {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !f.issued[tok] {
		f.challenge++
		w.Header().Set("WWW-Authenticate", `Bearer authorization="https://login.test/`+f.tenant+`", resource="https://`+f.host+`"`)
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": "Unauthorized", "message": "AKV10000: Request is missing a Bearer or PoP token."}})
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) < 2 || parts[0] != "secrets" {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	name, version := parts[1], ""
	if len(parts) > 2 {
		version = parts[2]
	}
	if version == "" {
		version = f.latest[name]
	}
	v, ok := f.secrets[name][version]
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": "SecretNotFound", "message": "A secret with (name/id) " + name + " was not found in this key vault."}})
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"value": v, "id": "https://" + f.host + "/secrets/" + name + "/" + version,
		"attributes": map[string]any{"enabled": true}})
}

func TestAzureKeyVault(t *testing.T) {
	ctx := context.Background()
	f := &fakeAzure{tenant: "tenant-1", clientID: "client-1", secret: "client-secret-1", issued: map[string]bool{},
		secrets: map[string]map[string]string{
			"prod-db":    {"v1": `{"password":"old-az-pw"}`, "v2": `{"password":"new-az-pw"}`},
			"prod-token": {"t1": "plain-az-token"},
		}, latest: map[string]string{"prod-db": "v2", "prod-token": "t1"}}
	srv := httptest.NewUnstartedServer(f)
	srv.StartTLS()
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	f.host = "vault.test:" + port
	// Every name resolves to the test server; its certificate is checked
	// (for the name it holds), as in production.
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
		},
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "example.com"},
	}}
	t.Setenv("AZURE_CLIENT_SECRET", "client-secret-1")
	cfg := &config.Config{Secrets: config.Secrets{Provider: "azure-kv", Endpoint: "https://myvault." + f.host, Path: "prod",
		TenantID: "tenant-1", ClientID: "client-1", Authority: "https://login.test:" + port}}
	open := func() Provider {
		p, err := Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		p.(*azureProvider).httpClient = hc
		return p
	}
	p := open()
	for _, tc := range []struct {
		ref  Ref
		want string
	}{
		{Ref{Name: "db", Key: "password"}, "new-az-pw"},
		{Ref{Name: "db", Key: "password", Version: "v1"}, "old-az-pw"},
		{Ref{Name: "token"}, "plain-az-token"},
	} {
		if v, err := Lookup(ctx, p, tc.ref); v != tc.want || err != nil {
			t.Errorf("%s = %q, %v; want %q", tc.ref.Label(), v, err, tc.want)
		}
	}
	if f.tokens != 1 || f.challenge != 1 {
		t.Errorf("%d tokens issued, %d challenges (want one of each: the token is kept)", f.tokens, f.challenge)
	}
	if _, err := Lookup(ctx, p, Ref{Name: "nope"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing: %v", err)
	}
	if _, err := Lookup(ctx, p, Ref{Name: "a.b"}); err == nil {
		t.Error("a name Key Vault cannot hold was sent")
	}
	// A wrong client secret: no token, so no read.
	t.Setenv("AZURE_CLIENT_SECRET", "wrong-secret")
	p = open()
	if _, err := Lookup(ctx, p, Ref{Name: "token"}); !errors.Is(err, ErrDenied) || strings.Contains(err.Error(), "wrong-secret") {
		t.Errorf("bad client secret: %v", err)
	}
	// A challenge for another resource than the vault is refused before
	// any token is asked for.
	t.Setenv("AZURE_CLIENT_SECRET", "client-secret-1")
	cfg.Secrets.Endpoint = "https://myvault.elsewhere.test:" + port
	before := f.tokens
	p = open()
	if _, err := Lookup(ctx, p, Ref{Name: "token"}); err == nil || f.tokens != before {
		t.Errorf("foreign challenge: %v (%d tokens)", err, f.tokens-before)
	}
}
