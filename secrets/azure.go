package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/celeroot/celeroot/config"
)

// azureProvider reads Azure Key Vault secrets (Get Secret of the REST
// API, api-version azureAPIVersion): NAME is the
// secret PATH-NAME ("/" becomes "-": Key Vault names are letters, digits
// and dashes), @VERSION a version id, a JSON value a map for #KEY. It
// authenticates as an app registration (tenant_id, client_id, the client
// secret from secrets.secret_file or secret_env, default
// AZURE_CLIENT_SECRET) with the OAuth 2 client-credentials grant at
// secrets.authority (default https://login.microsoftonline.com), for the
// scope Key Vault's challenge names. The authority comes from cl.yaml,
// never from the challenge, so the client secret goes nowhere else.
type azureProvider struct {
	vaultURL, prefix string
	cred             *clientSecretCredential
	caFile           string
	httpClient       *http.Client // tests

	once sync.Once
	hc   *http.Client
	err  error

	mu    sync.Mutex
	scope string // the token scope Key Vault's challenge named
}

const azureTimeout = 15 * time.Second

// azureAPIVersion is the Key Vault API version azsecrets v1.5.1 spoke.
const azureAPIVersion = "2026-04-01"

// azureRetries is how many times a request is sent again (the azcore
// MaxRetries the provider used to set).
const azureRetries = 1

// azureMaxAnswer bounds the answer read: a secret is at most 25 KiB.
const azureMaxAnswer = 1 << 20

// newAzure is the azure-kv provider of cfg's secrets section; it reads no
// credential yet.
func newAzure(cfg *config.Config) (*azureProvider, error) {
	s := cfg.Secrets
	if s.Endpoint == "" || s.TenantID == "" || s.ClientID == "" {
		return nil, errors.New("secrets.provider azure-kv needs secrets.endpoint (https://NAME.vault.azure.net), tenant_id and client_id")
	}
	p := &azureProvider{vaultURL: s.Endpoint, prefix: strings.ReplaceAll(s.Path, "/", "-"), caFile: pathOr(cfg, s.CAFile)}
	p.cred = &clientSecretCredential{authority: strings.TrimSuffix(envOr(s.Authority, "https://login.microsoftonline.com"), "/"),
		tenant: s.TenantID, clientID: s.ClientID,
		secret: credential{file: pathOr(cfg, s.SecretFile), env: envOr(s.SecretEnv, "AZURE_CLIENT_SECRET"), what: "Azure client secret", keys: "secrets.secret_file or secrets.secret_env"}}
	return p, nil
}

// client builds the HTTP client once: the test hook's, or one trusting
// secrets.ca_file too; the token requests go through it as well.
func (p *azureProvider) client() (*http.Client, error) {
	p.once.Do(func() {
		p.hc = p.httpClient
		if p.hc == nil {
			p.hc, p.err = httpClientWithCA(p.caFile)
		}
		p.cred.http = p.hc
	})
	return p.hc, p.err
}

// Get fetches the secret r names.
func (p *azureProvider) Get(ctx context.Context, r Ref) (Value, error) {
	hc, err := p.client()
	if err != nil {
		return Value{}, err
	}
	name := strings.ReplaceAll(r.Name, "/", "-")
	if p.prefix != "" {
		name = p.prefix + "-" + name
	}
	if strings.ContainsAny(name, "._") {
		return Value{}, fmt.Errorf("key vault secret names are letters, digits and dashes: %q", name)
	}
	ctx, cancel := context.WithTimeout(ctx, azureTimeout)
	defer cancel()
	s, err := p.getSecret(ctx, hc, name, r.Version)
	var ae *azureError
	if errors.As(err, &ae) {
		switch ae.status {
		case http.StatusNotFound:
			return Value{}, fmt.Errorf("key vault secret %s: %w", name, ErrNotFound)
		case http.StatusUnauthorized, http.StatusForbidden:
			return Value{}, fmt.Errorf("key vault refused the token (%d %s): %w", ae.status, ae.code, ErrDenied)
		}
	}
	if err != nil {
		return Value{}, fmt.Errorf("key vault secret %s: %w", name, err)
	}
	if s.Value == nil {
		return Value{}, fmt.Errorf("key vault secret %s has no value: %w", name, ErrNotFound)
	}
	return Value{Text: *s.Value, Structured: true}, nil
}

// secretURL is GET {vault}/secrets/{name}/{version}: an empty version
// leaves the path's trailing slash, for the current version, as azsecrets
// sent it.
func (p *azureProvider) secretURL(name, version string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSuffix(p.vaultURL, "/") + "/secrets/" + url.PathEscape(name) + "/" + url.PathEscape(version))
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("secrets.endpoint %q is not a URL: write https://NAME.vault.azure.net", p.vaultURL)
	}
	if u.Scheme != "https" {
		return nil, fmt.Errorf("secrets.endpoint %q is not https: the Key Vault token is sent over TLS only", p.vaultURL)
	}
	u.RawQuery = url.Values{"api-version": {azureAPIVersion}}.Encode()
	return u, nil
}

// azureSecret is the part of Get Secret's answer the provider uses.
type azureSecret struct {
	Value *string `json:"value"`
}

// getSecret fetches the secret, sending the request again once after a
// transport error, a 408, 429, 500, 502, 503 or 504, as azcore's retry
// policy did.
func (p *azureProvider) getSecret(ctx context.Context, hc *http.Client, name, version string) (*azureSecret, error) {
	u, err := p.secretURL(name, version)
	if err != nil {
		return nil, err
	}
	for try := 0; ; try++ {
		resp, err := p.authorized(ctx, hc, u)
		delay, retry := azureRetry(resp, err)
		if retry && try < azureRetries && ctx.Err() == nil {
			if err := sleep(ctx, delay); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		if resp.status != http.StatusOK {
			return nil, newAzureError(resp)
		}
		var s azureSecret
		if err := json.Unmarshal(resp.body, &s); err != nil {
			return nil, fmt.Errorf("key vault's answer is not JSON (HTTP %d)", resp.status)
		}
		return &s, nil
	}
}

// azureFinal marks an error no retry mends: no token, a refused challenge.
type azureFinal struct{ error }

// Unwrap is the error marked.
func (e azureFinal) Unwrap() error { return e.error }

// authorized sends GET u with a bearer token for the scope Key Vault's
// challenge named, as azsecrets' challenge policy did: the first request
// goes without a token, and Key Vault's 401 names the resource, which must
// be a parent domain of the vault's (the authority in the challenge is
// ignored: the token comes from secrets.authority). A request with a token
// that is refused with a new challenge is sent again once, with a new
// token.
func (p *azureProvider) authorized(ctx context.Context, hc *http.Client, u *url.URL) (*azureResponse, error) {
	scope := p.knownScope()
	var tok string
	if scope != "" {
		var err error
		if tok, err = p.cred.token(ctx, scope); err != nil {
			return nil, azureFinal{err}
		}
	}
	resp, err := azureSend(ctx, hc, u, tok)
	if err != nil || resp.status != http.StatusUnauthorized || resp.header.Get("WWW-Authenticate") == "" {
		return resp, err
	}
	next, err := challengeScope(resp.header.Get("WWW-Authenticate"), u)
	if err != nil {
		return nil, azureFinal{err}
	}
	p.setScope(next)
	if tok != "" {
		p.cred.forget(scope)
	}
	if tok, err = p.cred.token(ctx, next); err != nil {
		return nil, azureFinal{err}
	}
	return azureSend(ctx, hc, u, tok)
}

// knownScope is the scope of the last challenge, "" before the first.
func (p *azureProvider) knownScope() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.scope
}

// setScope keeps the scope of a challenge.
func (p *azureProvider) setScope(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.scope = s
}

// challengeScope is the token scope (RESOURCE/.default) a Key Vault
// challenge (WWW-Authenticate: Bearer authorization="…",
// resource="…" or scope="…") names for a request to u; a resource whose
// domain is not a parent of u's is refused.
func challengeScope(challenge string, u *url.URL) (string, error) {
	params := map[string]string{}
	rest := strings.TrimSpace(challenge)
	if scheme, after, ok := strings.Cut(rest, " "); ok && strings.EqualFold(scheme, "Bearer") {
		rest = after
	}
	for _, f := range strings.FieldsFunc(rest, func(r rune) bool { return r == ',' || r == ' ' }) {
		if k, v, ok := strings.Cut(f, "="); ok {
			params[strings.ToLower(k)] = strings.Trim(v, `"`)
		}
	}
	scope := params["scope"]
	if scope == "" {
		scope = params["resource"]
	}
	if scope == "" {
		return "", errors.New("key vault's challenge names no resource (its WWW-Authenticate has no scope or resource)")
	}
	res, err := url.Parse(scope)
	if err != nil || res.Host == "" || !strings.HasSuffix(u.Host, "."+res.Host) {
		return "", fmt.Errorf("key vault's challenge names the resource %q, which is not a parent domain of %s: check secrets.endpoint", scope, u.Host)
	}
	if !strings.HasSuffix(scope, "/.default") {
		scope += "/.default"
	}
	return scope, nil
}

// azureResponse is an answer of any status with its body read.
type azureResponse struct {
	status int
	header http.Header
	body   []byte
}

// azureSend makes one GET request with the bearer token tok ("" none).
func azureSend(ctx context.Context, hc *http.Client, u *url.URL, tok string) (*azureResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, azureMaxAnswer))
	if err != nil {
		return nil, fmt.Errorf("read key vault's answer: %w", err)
	}
	return &azureResponse{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// azureRetry says whether azcore's retry policy would have sent the
// request again, and after how long: the answer's retry-after-ms,
// x-ms-retry-after-ms or Retry-After (none over a minute), else 0.8 s with
// a jitter of -20 to +30 %.
func azureRetry(resp *azureResponse, err error) (time.Duration, bool) {
	if err != nil {
		var final azureFinal
		return azureBackoff(), !errors.As(err, &final) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
	}
	switch resp.status {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
	default:
		return 0, false
	}
	d, ok := azureRetryAfter(resp.header)
	switch {
	case !ok || d <= 0:
		return azureBackoff(), true
	case d > time.Minute:
		return 0, false
	}
	return d, true
}

// azureBackoff is azcore's wait before its first retry.
func azureBackoff() time.Duration {
	return 640*time.Millisecond + jitter(400*time.Millisecond)
}

// azureRetryAfter reads the wait an answer asks for, in the order azcore
// did.
func azureRetryAfter(h http.Header) (time.Duration, bool) {
	for _, k := range []string{"retry-after-ms", "x-ms-retry-after-ms"} {
		if ms, err := strconv.Atoi(h.Get(k)); err == nil {
			return time.Duration(ms) * time.Millisecond, true
		}
	}
	return retryAfter(h)
}

// azureError is an error answer: its status, and Key Vault's error code
// (the x-ms-error-code header or the body's error.code) and message.
type azureError struct {
	status        int
	code, message string
}

// Error is the status, the code and the message, on one line.
func (e *azureError) Error() string {
	s := fmt.Sprintf("HTTP %d %s", e.status, http.StatusText(e.status))
	if e.code != "" {
		s += " (" + e.code + ")"
	}
	if e.message != "" {
		s += ": " + e.message
	}
	return s
}

// newAzureError reads an error answer.
func newAzureError(resp *azureResponse) *azureError {
	var body struct {
		Error struct{ Code, Message string }
	}
	_ = json.Unmarshal(resp.body, &body)
	e := &azureError{status: resp.status, code: resp.header.Get("x-ms-error-code"), message: body.Error.Message}
	if e.code == "" {
		e.code = body.Error.Code
	}
	return e
}

// clientSecretCredential gets tokens with the OAuth 2 client-credentials
// grant (Microsoft identity platform v2.0 token endpoint), each kept until
// five minutes before it expires.
type clientSecretCredential struct {
	authority, tenant, clientID string
	secret                      credential
	http                        *http.Client

	mu    sync.Mutex
	cache map[string]accessToken // by scope
}

// accessToken is a bearer token and when it expires.
type accessToken struct {
	token   string
	expires time.Time
}

// token is a bearer token for scope, from the cache or the authority.
func (c *clientSecretCredential) token(ctx context.Context, scope string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.cache[scope]; ok && time.Until(t.expires) > 5*time.Minute {
		return t.token, nil
	}
	sec, err := c.secret.read()
	if err != nil {
		return "", err
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {c.clientID}, "client_secret": {sec}, "scope": {scope}}
	u := c.authority + "/" + url.PathEscape(c.tenant) + "/oauth2/v2.0/token"
	ctx, cancel := context.WithTimeout(ctx, azureTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("azure token: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var tr struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		Error       string `json:"error"`
	}
	_ = json.Unmarshal(body, &tr)
	if resp.StatusCode != http.StatusOK || tr.AccessToken == "" {
		return "", fmt.Errorf("azure token for client %s: %s %s: %w", c.clientID, resp.Status, tr.Error, ErrDenied)
	}
	if c.cache == nil {
		c.cache = map[string]accessToken{}
	}
	c.cache[scope] = accessToken{token: tr.AccessToken, expires: time.Now().Add(time.Duration(tr.ExpiresIn) * time.Second)}
	return tr.AccessToken, nil
}

// forget drops the token kept for scope: the vault refused it.
func (c *clientSecretCredential) forget(scope string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.cache, scope)
}

// getenv is os.Getenv.
func getenv(k string) string { return os.Getenv(k) }
