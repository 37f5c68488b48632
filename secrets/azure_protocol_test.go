package secrets

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/celeroot/celeroot/config"
)

// azureVault is a Key Vault at https://myvault.vault.test:PORT whose
// authenticated secret requests handle answers; its tokens come from the
// same server (fakeAzure's token endpoint). Its challenge names the scope.
func azureVault(t *testing.T, handle http.HandlerFunc) Provider {
	t.Helper()
	f := &fakeAzure{tenant: "tenant-1", clientID: "client-1", secret: "client-secret-1", issued: map[string]bool{}}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			f.ServeHTTP(w, r)
			return
		}
		if r.URL.Query().Get("api-version") != azureAPIVersion || r.Header.Get("Accept") != "application/json" {
			t.Errorf("request %s %v", r.URL, r.Header)
		}
		f.mu.Lock()
		ok := f.issued[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
		f.mu.Unlock()
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer authorization="https://login.test/tenant-1", scope="https://`+f.host+`/.default"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		handle(w, r)
	}))
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	f.host = "vault.test:" + port
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "example.com"},
	}}
	t.Setenv("AZURE_CLIENT_SECRET", "client-secret-1")
	p, err := Open(&config.Config{Secrets: config.Secrets{Provider: "azure-kv", Endpoint: "https://myvault." + f.host,
		TenantID: "tenant-1", ClientID: "client-1", Authority: "https://login." + f.host}})
	if err != nil {
		t.Fatal(err)
	}
	p.(*azureProvider).httpClient = hc
	return p
}

// TestAzureErrors: Key Vault's error bodies ({"error": {"code",
// "message"}}) and x-ms-error-code, a retry after a 503.
func TestAzureErrors(t *testing.T) {
	ctx := context.Background()
	var n atomic.Int32
	p := azureVault(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/secrets/forbidden/"):
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"error":{"code":"Forbidden","message":"The user, group or application does not have secrets get permission","innererror":{"code":"AccessDenied"}}}`))
		case strings.HasPrefix(r.URL.Path, "/secrets/disabled/"):
			w.Header().Set("x-ms-error-code", "SecretDisabled")
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"error":{"code":"Forbidden","message":"Operation get is not allowed on a disabled secret."}}`))
		case strings.HasPrefix(r.URL.Path, "/secrets/bad/"):
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":{"code":"BadParameter","message":"The request URI contains an invalid name: bad"}}`))
		case strings.HasPrefix(r.URL.Path, "/secrets/busy/"):
			if n.Add(1) == 1 {
				w.Header().Set("retry-after-ms", "10")
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			w.Write([]byte(`{"value":"after-retry","id":"https://x/secrets/busy/1"}`))
		case strings.HasPrefix(r.URL.Path, "/secrets/novalue/"):
			w.Write([]byte(`{"id":"https://x/secrets/novalue/1"}`))
		}
	})
	for name, check := range map[string]func(error) bool{
		"forbidden": func(err error) bool {
			return errors.Is(err, ErrDenied) && strings.Contains(err.Error(), "(403 Forbidden)")
		},
		"disabled": func(err error) bool {
			return errors.Is(err, ErrDenied) && strings.Contains(err.Error(), "(403 SecretDisabled)")
		},
		"bad": func(err error) bool {
			return strings.Contains(err.Error(), "key vault secret bad: HTTP 400 Bad Request (BadParameter): The request URI contains an invalid name")
		},
		"novalue": func(err error) bool {
			return errors.Is(err, ErrNotFound) && strings.Contains(err.Error(), "has no value")
		},
	} {
		if _, err := Lookup(ctx, p, Ref{Name: name}); err == nil || !check(err) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if v, err := Lookup(ctx, p, Ref{Name: "busy"}); v != "after-retry" || err != nil || n.Load() != 2 {
		t.Errorf("busy: %q %v after %d tries", v, err, n.Load())
	}
}

func TestAzureChallenge(t *testing.T) {
	u := mustURL(t, "https://myvault.vault.azure.net/secrets/a/")
	for challenge, want := range map[string]string{
		`Bearer authorization="https://login.microsoftonline.com/72f988bf", resource="https://vault.azure.net"`:                                 "https://vault.azure.net/.default",
		`Bearer authorization="https://login.microsoftonline.com/72f988bf", scope="https://vault.azure.net/.default", resource="https://other"`: "https://vault.azure.net/.default",
		`Bearer authorization="https://login.microsoftonline.com/t" resource="https://evil.example"`:                                            "",
		`Bearer authorization="https://login.microsoftonline.com/t"`:                                                                            "",
	} {
		got, err := challengeScope(challenge, u)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("%s: %q %v", challenge, got, err)
		}
	}
	p := &azureProvider{vaultURL: "http://myvault.vault.azure.net"}
	if _, err := p.secretURL("a", ""); err == nil || !strings.Contains(err.Error(), "https") {
		t.Errorf("http endpoint: %v", err)
	}
	p.vaultURL = "https://myvault.vault.azure.net/"
	if got, _ := p.secretURL("a", ""); got.String() != "https://myvault.vault.azure.net/secrets/a/?api-version="+azureAPIVersion {
		t.Errorf("url %s", got)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
