package secrets

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
	"unicode"
)

// vaultAPI sends requests to Vault's HTTP API as hashicorp/vault/api did:
// under ADDR/v1/, with X-Vault-Request: true (Vault refuses requests
// without it, against server-side request forgery), the token in
// X-Vault-Token, the namespace of the environment variable VAULT_NAMESPACE
// in X-Vault-Namespace, JSON bodies. A request is sent again once after a
// transport error, a 412, a 429 or a 5xx other than 501, one to 1.5 s later
// (or after the Retry-After of a 429 or 503); one redirect is followed (a
// standby node names the active one), never from https to http.
type vaultAPI struct {
	base *url.URL
	hc   *http.Client // follows no redirect itself
}

// vaultRetries is how many times a request is sent again (vault/api's
// MaxRetries the provider used to set).
const vaultRetries = 1

// vaultMaxAnswer bounds the answer read.
const vaultMaxAnswer = 4 << 20

// newVaultAPI is the API at addr (secrets.endpoint) through hc.
func newVaultAPI(addr string, hc *http.Client) (*vaultAPI, error) {
	u, err := url.Parse(addr)
	if err != nil || u.Host == "" || u.Scheme != "https" && u.Scheme != "http" {
		return nil, fmt.Errorf("secrets.endpoint %q is not a URL: write https://vault.example.com:8200", addr)
	}
	own := *hc
	own.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &vaultAPI{base: u, hc: &own}, nil
}

// vaultAnswer is an answer of any status.
type vaultAnswer struct {
	method, path string // of the request, for errors
	status       int
	body         []byte
}

// do sends method to p (below /v1/) with query, the JSON of in (nil: no
// body) and token ("" none), following one redirect.
func (a *vaultAPI) do(ctx context.Context, method, p string, query url.Values, token string, in any) (*vaultAnswer, error) {
	if strings.ContainsFunc(token, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return nil, errors.New("the Vault token contains non-printable characters: check secrets.token_file or secrets.token_env")
	}
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return nil, err
		}
	}
	u := *a.base
	u.Path = path.Join(a.base.Path, "/v1", p)
	u.RawQuery = query.Encode()
	resp, err := a.send(ctx, method, &u, token, body)
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect:
		loc, err := resp.Location()
		if err != nil {
			return nil, fmt.Errorf("vault redirected %s %s without a valid Location: %w", method, p, err)
		}
		if u.Scheme == "https" && loc.Scheme != "https" {
			return nil, fmt.Errorf("vault redirected %s %s to %s://%s: refused, it would leave TLS", method, p, loc.Scheme, loc.Host)
		}
		if resp, err = a.send(ctx, method, loc, token, body); err != nil {
			return nil, err
		}
	}
	return &vaultAnswer{method: method, path: p, status: resp.StatusCode, body: resp.body}, nil
}

// vaultResponse is a response with its body read.
type vaultResponse struct {
	*http.Response
	body []byte
}

// send sends one request, again after an error vault/api retried.
func (a *vaultAPI) send(ctx context.Context, method string, u *url.URL, token string, body []byte) (*vaultResponse, error) {
	for attempt := 0; ; attempt++ {
		resp, err := a.sendOnce(ctx, method, u, token, body)
		wait, retry := vaultRetry(resp, err)
		if !retry || attempt == vaultRetries || ctx.Err() != nil {
			return resp, err
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// sendOnce makes one request and reads its answer.
func (a *vaultAPI) sendOnce(ctx context.Context, method string, u *url.URL, token string, body []byte) (*vaultResponse, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Vault-Request", "true")
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	if ns := getenv("VAULT_NAMESPACE"); ns != "" {
		req.Header.Set("X-Vault-Namespace", ns)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, vaultMaxAnswer))
	if err != nil {
		return nil, fmt.Errorf("read vault's answer to %s %s: %w", method, u.Path, err)
	}
	return &vaultResponse{resp, data}, nil
}

// vaultRetry says whether vault/api would have sent the request again,
// and after how long.
func vaultRetry(resp *vaultResponse, err error) (time.Duration, bool) {
	if err != nil {
		var unknownCA x509.UnknownAuthorityError
		var badCert x509.CertificateInvalidError
		var badHost x509.HostnameError
		var verify *tls.CertificateVerificationError
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
			errors.As(err, &unknownCA) || errors.As(err, &badCert) || errors.As(err, &badHost) || errors.As(err, &verify) {
			return 0, false
		}
		return vaultBackoff(), true
	}
	switch code := resp.StatusCode; {
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		if d, ok := retryAfter(resp.Header); ok {
			return d, true
		}
		return vaultBackoff(), true
	case code == http.StatusPreconditionFailed || code >= 500 && code != http.StatusNotImplemented:
		return vaultBackoff(), true
	}
	return 0, false
}

// vaultBackoff is vault/api's wait before its first retry: 1 to 1.5 s.
func vaultBackoff() time.Duration {
	return time.Second + jitter(500*time.Millisecond)
}

// ok reports a 2xx answer (a redirect was followed once already).
func (r *vaultAnswer) ok() bool { return r.status >= 200 && r.status < 300 }

// decode reads the JSON answer into out (numbers as json.Number).
func (r *vaultAnswer) decode(out any) error {
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.UseNumber()
	if err := dec.Decode(out); err != nil && err != io.EOF {
		return fmt.Errorf("vault's answer to %s /v1/%s is not JSON (HTTP %d)", r.method, r.path, r.status)
	}
	return nil
}

// vaultError is an error answer.
type vaultError struct {
	method, path string
	status       int
	errors       []string
}

// Error is the request, the status and Vault's messages, on one line.
func (e *vaultError) Error() string {
	s := fmt.Sprintf("%s /v1/%s: HTTP %d %s", e.method, e.path, e.status, http.StatusText(e.status))
	if len(e.errors) > 0 {
		s += ": " + strings.Join(e.errors, "; ")
	}
	return s
}

// err is the answer's error: nil for a 2xx, else a *vaultError
// with Vault's messages ({"errors": [...]}) or the first line of a body
// that is not Vault's JSON.
func (r *vaultAnswer) err() error {
	if r.ok() {
		return nil
	}
	e := &vaultError{method: r.method, path: r.path, status: r.status}
	var body struct{ Errors []string }
	if json.Unmarshal(r.body, &body) == nil {
		e.errors = body.Errors
	} else if line, _, _ := strings.Cut(strings.TrimSpace(string(r.body)), "\n"); line != "" {
		e.errors = []string{truncate(line, 200)}
	}
	return e
}

// truncate cuts s to n bytes at most, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
