package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/celeroot/celeroot/config"
)

// fakeVault speaks the parts of Vault's HTTP API that the provider uses:
// KV v2 reads (GET /v1/<mount>/data/<path>[?version=N]) on one mount,
// AppRole login and token renew-self; tokens expire on the fake's clock.
type fakeVault struct {
	mu       sync.Mutex
	mount    string
	versions map[string][]map[string]any // path → data by version-1
	tokens   map[string]time.Time        // token → expiry (zero: never)
	roleID   string
	secretID string
	now      func() time.Time
	logins   int
	renewals int
	reads    int
}

func (f *fakeVault) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	reply := func(code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
	denied := func() { reply(http.StatusForbidden, map[string]any{"errors": []string{"permission denied"}}) }
	valid := func() (string, bool) {
		tok := r.Header.Get("X-Vault-Token")
		exp, ok := f.tokens[tok]
		return tok, ok && (exp.IsZero() || f.now().Before(exp))
	}
	switch {
	case r.Method == http.MethodPut || r.Method == http.MethodPost:
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		switch r.URL.Path {
		case "/v1/auth/approle/login":
			if body["role_id"] != f.roleID || body["secret_id"] != f.secretID {
				reply(http.StatusBadRequest, map[string]any{"errors": []string{"invalid role or secret ID"}})
				return
			}
			f.logins++
			tok := "hvs.login" + strconv.Itoa(f.logins)
			f.tokens[tok] = f.now().Add(60 * time.Second)
			reply(http.StatusOK, map[string]any{"auth": map[string]any{"client_token": tok, "lease_duration": 60, "renewable": true}})
		case "/v1/auth/token/renew-self":
			tok, ok := valid()
			if !ok {
				denied()
				return
			}
			f.renewals++
			f.tokens[tok] = f.now().Add(60 * time.Second)
			reply(http.StatusOK, map[string]any{"auth": map[string]any{"client_token": tok, "lease_duration": 60, "renewable": true}})
		default:
			reply(http.StatusNotFound, map[string]any{"errors": []string{}})
		}
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/"+f.mount+"/data/"):
		if _, ok := valid(); !ok {
			denied()
			return
		}
		f.reads++
		p := strings.TrimPrefix(r.URL.Path, "/v1/"+f.mount+"/data/")
		vs := f.versions[p]
		n := len(vs)
		if q := r.URL.Query().Get("version"); q != "" {
			n, _ = strconv.Atoi(q)
		}
		if n < 1 || n > len(vs) {
			reply(http.StatusNotFound, map[string]any{"errors": []string{}})
			return
		}
		reply(http.StatusOK, map[string]any{"data": map[string]any{"data": vs[n-1],
			"metadata": map[string]any{"version": n, "created_time": "2026-01-01T00:00:00Z", "deletion_time": "", "destroyed": false}}})
	default:
		reply(http.StatusNotFound, map[string]any{"errors": []string{}})
	}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newFakeVault(t *testing.T, clk *clock) (*fakeVault, *httptest.Server) {
	f := &fakeVault{mount: "kv", now: clk.now, roleID: "role-1", secretID: "sid-1",
		tokens: map[string]time.Time{"root-token": {}},
		versions: map[string][]map[string]any{
			"celeroot/prod/db": {{"password": "old-pw"}, {"password": "new-pw", "user": "app"}},
		}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func TestVaultToken(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	_, srv := newFakeVault(t, clk)
	t.Setenv("MY_VAULT_TOKEN", "root-token")
	cfg := &config.Config{Secrets: config.Secrets{Provider: "vault", Endpoint: srv.URL, Mount: "kv", Path: "celeroot/prod", TokenEnv: "MY_VAULT_TOKEN"}}
	p, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ref  Ref
		want string
	}{
		{Ref{Name: "db", Key: "password"}, "new-pw"},
		{Ref{Name: "db", Key: "user"}, "app"},
		{Ref{Name: "db", Key: "password", Version: "1"}, "old-pw"},
		{Ref{Name: "db", Key: "password", Version: "2"}, "new-pw"},
	} {
		if v, err := Lookup(ctx, p, tc.ref); v != tc.want || err != nil {
			t.Errorf("%s = %q, %v; want %q", tc.ref.Label(), v, err, tc.want)
		}
	}
	if _, err := Lookup(ctx, p, Ref{Name: "db"}); err == nil || !strings.Contains(err.Error(), "#password") && !strings.Contains(err.Error(), "#user") {
		t.Errorf("whole map: %v", err)
	}
	if _, err := Lookup(ctx, p, Ref{Name: "db", Key: "password", Version: "3"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing version: %v", err)
	}
	if _, err := Lookup(ctx, p, Ref{Name: "nope", Key: "x"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing secret: %v", err)
	}
	if _, err := Lookup(ctx, p, Ref{Name: "db", Key: "password", Version: "x"}); err == nil {
		t.Error("non-numeric version accepted")
	}
	t.Setenv("MY_VAULT_TOKEN", "wrong-token")
	_, err = Lookup(ctx, p, Ref{Name: "db", Key: "password"})
	if !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), "403") || strings.Contains(err.Error(), "wrong-token") {
		t.Errorf("bad token: %v", err)
	}
	// The default mount is "secret": this fake has none there.
	cfg.Secrets.Mount = ""
	t.Setenv("MY_VAULT_TOKEN", "root-token")
	p, _ = Open(cfg)
	if _, err := Lookup(ctx, p, Ref{Name: "db", Key: "password"}); err == nil {
		t.Error("read from mount secret")
	}
}

func TestVaultAppRole(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	f, srv := newFakeVault(t, clk)
	t.Setenv("VAULT_SECRET_ID", "sid-1")
	t.Setenv("VAULT_TOKEN", "root-token") // ignored: AppRole is configured
	p, err := Open(&config.Config{Secrets: config.Secrets{Provider: "vault", Endpoint: srv.URL, Mount: "kv", Path: "celeroot/prod", RoleID: "role-1"}})
	if err != nil {
		t.Fatal(err)
	}
	p.(*vaultProvider).now = clk.now
	get := func() {
		t.Helper()
		if v, err := Lookup(ctx, p, Ref{Name: "db", Key: "password"}); v != "new-pw" || err != nil {
			t.Fatalf("read: %q %v", v, err)
		}
	}
	get()
	get()
	if f.logins != 1 || f.renewals != 0 {
		t.Errorf("after two reads: %d logins %d renewals", f.logins, f.renewals)
	}
	clk.add(45 * time.Second) // past two thirds of the 60 s TTL: renewed
	get()
	if f.logins != 1 || f.renewals != 1 {
		t.Errorf("after 45s: %d logins %d renewals", f.logins, f.renewals)
	}
	// The server forgets the token (revoked, or expired early): a 403,
	// then a new login, then the read.
	f.mu.Lock()
	delete(f.tokens, "hvs.login1")
	f.mu.Unlock()
	get()
	if f.logins != 2 {
		t.Errorf("after revocation: %d logins", f.logins)
	}
	clk.add(2 * time.Minute) // expired for both: a fresh login, no renewal attempt that could succeed
	get()
	if f.logins != 3 {
		t.Errorf("after expiry: %d logins", f.logins)
	}
	t.Setenv("VAULT_SECRET_ID", "wrong")
	clk.add(2 * time.Minute)
	if _, err := Lookup(ctx, p, Ref{Name: "db", Key: "password"}); err == nil || !strings.Contains(err.Error(), "AppRole login") || strings.Contains(err.Error(), "wrong") {
		t.Errorf("bad secret-id: %v", err)
	}
}
