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
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/celeroot/celeroot/config"
)

// azureProvider reads Azure Key Vault secrets (azsecrets): NAME is the
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
	httpClient       *http.Client

	once   sync.Once
	client *azsecrets.Client
	err    error
}

const azureTimeout = 15 * time.Second

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

func (p *azureProvider) api() (*azsecrets.Client, error) {
	p.once.Do(func() {
		hc := p.httpClient
		if hc == nil {
			var err error
			if hc, err = httpClientWithCA(p.caFile); err != nil {
				p.err = err
				return
			}
		}
		p.cred.http = hc
		p.client, p.err = azsecrets.NewClient(p.vaultURL, p.cred, &azsecrets.ClientOptions{ClientOptions: azcore.ClientOptions{
			Transport: hc, Retry: policy.RetryOptions{MaxRetries: 1}}})
	})
	return p.client, p.err
}

func (p *azureProvider) Get(ctx context.Context, r Ref) (Value, error) {
	cl, err := p.api()
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
	resp, err := cl.GetSecret(ctx, name, r.Version, nil)
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		switch re.StatusCode {
		case http.StatusNotFound:
			return Value{}, fmt.Errorf("key vault secret %s: %w", name, ErrNotFound)
		case http.StatusUnauthorized, http.StatusForbidden:
			return Value{}, fmt.Errorf("key vault refused the token (%d %s): %w", re.StatusCode, re.ErrorCode, ErrDenied)
		}
	}
	if err != nil {
		return Value{}, fmt.Errorf("key vault secret %s: %w", name, err)
	}
	if resp.Value == nil {
		return Value{}, fmt.Errorf("key vault secret %s has no value: %w", name, ErrNotFound)
	}
	return Value{Text: *resp.Value, Structured: true}, nil
}

// clientSecretCredential is an azcore.TokenCredential for the OAuth 2
// client-credentials grant (Microsoft identity platform v2.0 token
// endpoint), with the token kept until five minutes before it expires.
type clientSecretCredential struct {
	authority, tenant, clientID string
	secret                      credential
	http                        *http.Client

	mu    sync.Mutex
	cache map[string]azcore.AccessToken // by scope
}

func (c *clientSecretCredential) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	scope := strings.Join(o.Scopes, " ")
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.cache[scope]; ok && time.Until(t.ExpiresOn) > 5*time.Minute {
		return t, nil
	}
	sec, err := c.secret.read()
	if err != nil {
		return azcore.AccessToken{}, err
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {c.clientID}, "client_secret": {sec}, "scope": {scope}}
	u := c.authority + "/" + url.PathEscape(c.tenant) + "/oauth2/v2.0/token"
	ctx, cancel := context.WithTimeout(ctx, azureTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return azcore.AccessToken{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.http.Do(req)
	if err != nil {
		return azcore.AccessToken{}, fmt.Errorf("azure token: %w", err)
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
		return azcore.AccessToken{}, fmt.Errorf("azure token for client %s: %s %s: %w", c.clientID, resp.Status, tr.Error, ErrDenied)
	}
	t := azcore.AccessToken{Token: tr.AccessToken, ExpiresOn: time.Now().Add(time.Duration(tr.ExpiresIn) * time.Second)}
	if c.cache == nil {
		c.cache = map[string]azcore.AccessToken{}
	}
	c.cache[scope] = t
	return t, nil
}

func getenv(k string) string { return os.Getenv(k) }
