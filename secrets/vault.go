package secrets

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"sync"
	"time"

	"github.com/celeroot/celeroot/config"
)

// vaultProvider reads Vault's KV version 2 engine at secrets.mount
// (default "secret"): NAME is the secret PATH/NAME, its data the map a
// reference's #KEY picks from, @VERSION a version number. It logs in with a
// token (secrets.token_file or token_env, default VAULT_TOKEN) or, when
// secrets.role_id is set, with AppRole (role_id and the secret-id from
// secrets.secret_file or secret_env, default VAULT_SECRET_ID): the
// AppRole token is kept, renewed when two thirds of its TTL have passed,
// and replaced by a new login when it cannot be renewed or is refused.
// It speaks Vault's HTTP API itself (vaultapi.go).
type vaultProvider struct {
	addr, mount, prefix string
	caFile              string
	token               credential
	roleID              string
	secretID            credential
	httpClient          *http.Client // tests

	once sync.Once
	api  *vaultAPI
	err  error

	mu      sync.Mutex
	login   string    // AppRole token
	renewAt time.Time // when to renew it
	expires time.Time
	now     func() time.Time
}

const vaultTimeout = 15 * time.Second

// newVault is the vault provider of cfg's secrets section; it reads no
// credential yet.
func newVault(cfg *config.Config) (*vaultProvider, error) {
	s := cfg.Secrets
	if s.Endpoint == "" {
		return nil, errors.New("secrets.provider vault needs secrets.endpoint: https://vault.example.com:8200")
	}
	p := &vaultProvider{addr: s.Endpoint, mount: envOr(s.Mount, "secret"), prefix: s.Path, caFile: pathOr(cfg, s.CAFile),
		roleID: s.RoleID, now: time.Now,
		token:    credential{file: pathOr(cfg, s.TokenFile), env: envOr(s.TokenEnv, "VAULT_TOKEN"), what: "Vault token", keys: "secrets.token_file or secrets.token_env"},
		secretID: credential{file: pathOr(cfg, s.SecretFile), env: envOr(s.SecretEnv, "VAULT_SECRET_ID"), what: "Vault AppRole secret-id", keys: "secrets.secret_file or secrets.secret_env"},
	}
	return p, nil
}

// client builds the API client once: the test hook's HTTP client, or one
// trusting secrets.ca_file too. No VAULT_* variable but VAULT_NAMESPACE
// (and the credentials cl.yaml names) is read: cl.yaml says where Vault is
// and how to trust it.
func (p *vaultProvider) client() (*vaultAPI, error) {
	p.once.Do(func() {
		hc := p.httpClient
		if hc == nil {
			var err error
			if hc, err = httpClientWithCA(p.caFile); err != nil {
				p.err = err
				return
			}
		}
		p.api, p.err = newVaultAPI(p.addr, hc)
	})
	return p.api, p.err
}

// Get reads the secret r names, logging in again once when Vault refuses
// an AppRole token.
func (p *vaultProvider) Get(ctx context.Context, r Ref) (Value, error) {
	api, err := p.client()
	if err != nil {
		return Value{}, err
	}
	version := 0
	if r.Version != "" {
		if version, err = strconv.Atoi(r.Version); err != nil || version < 1 {
			return Value{}, fmt.Errorf("vault versions are numbers from 1: @%s", r.Version)
		}
	}
	for attempt := 0; ; attempt++ {
		tok, err := p.currentToken(ctx, api)
		if err != nil {
			return Value{}, err
		}
		v, err := p.read(ctx, api, tok, r.Name, version)
		var ve *vaultError
		if errors.As(err, &ve) && ve.status == http.StatusForbidden {
			if p.roleID != "" && attempt == 0 { // an expired or revoked AppRole token: log in again
				p.forget(tok)
				continue
			}
			return Value{}, fmt.Errorf("vault refused the token (403 permission denied): %w; check the token's policy for %s/data/%s", ErrDenied, p.mount, p.join(r.Name))
		}
		return v, err
	}
}

// join is the secret's path under the mount.
func (p *vaultProvider) join(name string) string {
	if p.prefix == "" {
		return name
	}
	return path.Join(p.prefix, name)
}

// kvAnswer is a KV version 2 read's answer.
type kvAnswer struct {
	Data struct {
		Data     map[string]any `json:"data"`
		Metadata struct {
			Version      int    `json:"version"`
			DeletionTime string `json:"deletion_time"`
			Destroyed    bool   `json:"destroyed"`
		} `json:"metadata"`
	} `json:"data"`
}

// gone says why a version holds no data: "deleted", "destroyed" or "".
func (a *kvAnswer) gone() string {
	switch m := a.Data.Metadata; {
	case a.Data.Data != nil:
		return ""
	case m.Destroyed:
		return "destroyed"
	case m.DeletionTime != "":
		return "deleted"
	}
	return ""
}

// read reads version (0: the current one) of the secret name with tok.
func (p *vaultProvider) read(ctx context.Context, api *vaultAPI, tok, name string, version int) (Value, error) {
	ctx, cancel := context.WithTimeout(ctx, vaultTimeout)
	defer cancel()
	secret := p.mount + "/" + p.join(name)
	var query url.Values
	if version > 0 {
		query = url.Values{"version": {strconv.Itoa(version)}}
	}
	ans, err := api.do(ctx, http.MethodGet, p.mount+"/data/"+p.join(name), query, tok, nil)
	if err != nil {
		return Value{}, fmt.Errorf("read vault secret %s: %w", secret, err)
	}
	var kv kvAnswer
	if ans.status == http.StatusNotFound || ans.ok() {
		if err := ans.decode(&kv); err != nil {
			return Value{}, err
		}
	}
	if gone := kv.gone(); gone != "" {
		return Value{}, fmt.Errorf("%s: version %d is %s: %w", secret, kv.Data.Metadata.Version, gone, ErrNotFound)
	}
	if ans.status == http.StatusNotFound {
		return Value{}, fmt.Errorf("%s: %w", secret, ErrNotFound)
	}
	if err := ans.err(); err != nil {
		return Value{}, fmt.Errorf("read vault secret %s: %w", secret, err)
	}
	fields := make(map[string]string, len(kv.Data.Data))
	for k, v := range kv.Data.Data {
		if str, ok := v.(string); ok {
			fields[k] = str
		} else {
			fields[k] = fmt.Sprint(v)
		}
	}
	return Value{Fields: fields}, nil
}

// currentToken is the static token, or the AppRole token (logging in or
// renewing as needed).
func (p *vaultProvider) currentToken(ctx context.Context, api *vaultAPI) (string, error) {
	if p.roleID == "" {
		return p.token.read()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if p.login != "" && now.Before(p.renewAt) {
		return p.login, nil
	}
	if p.login != "" && now.Before(p.expires) {
		if err := p.renew(ctx, api); err == nil {
			return p.login, nil
		}
	}
	return p.login, p.appRoleLogin(ctx, api)
}

// forget drops the AppRole token tok, unless another run replaced it.
func (p *vaultProvider) forget(tok string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.login == tok {
		p.login = ""
	}
}

// vaultAuthAnswer is the answer of a login or a renewal.
type vaultAuthAnswer struct {
	Auth *struct {
		ClientToken   string `json:"client_token"`
		LeaseDuration int    `json:"lease_duration"`
	} `json:"auth"`
}

// appRoleLogin logs in with the role id and the secret-id and keeps the
// token.
func (p *vaultProvider) appRoleLogin(ctx context.Context, api *vaultAPI) error {
	sid, err := p.secretID.read()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, vaultTimeout)
	defer cancel()
	out, err := vaultAuth(ctx, api, "auth/approle/login", "", map[string]string{"role_id": p.roleID, "secret_id": sid})
	if err != nil {
		return fmt.Errorf("vault AppRole login: %w", err)
	}
	if out.Auth == nil || out.Auth.ClientToken == "" {
		return errors.New("vault AppRole login: no token in the answer")
	}
	p.setToken(out.Auth.ClientToken, out.Auth.LeaseDuration)
	return nil
}

// renew extends the AppRole token's lease (token renew-self).
func (p *vaultProvider) renew(ctx context.Context, api *vaultAPI) error {
	ctx, cancel := context.WithTimeout(ctx, vaultTimeout)
	defer cancel()
	out, err := vaultAuth(ctx, api, "auth/token/renew-self", p.login, map[string]int{"increment": 0})
	if err != nil || out.Auth == nil {
		return fmt.Errorf("renew the vault token: %v", err)
	}
	tok := out.Auth.ClientToken
	if tok == "" {
		tok = p.login
	}
	p.setToken(tok, out.Auth.LeaseDuration)
	return nil
}

// vaultAuth PUTs in to an auth endpoint p with tok ("" none).
func vaultAuth(ctx context.Context, api *vaultAPI, p, tok string, in any) (*vaultAuthAnswer, error) {
	ans, err := api.do(ctx, http.MethodPut, p, nil, tok, in)
	if err != nil {
		return nil, err
	}
	if err := ans.err(); err != nil {
		return nil, err
	}
	var out vaultAuthAnswer
	if err := ans.decode(&out); err != nil {
		return nil, err
	}
	return &out, nil
}

// setToken keeps tok, valid for ttl seconds (0: no expiry), to be renewed
// after two thirds of it.
func (p *vaultProvider) setToken(tok string, ttl int) {
	now := p.now()
	p.login = tok
	if ttl <= 0 { // no expiry
		p.renewAt, p.expires = now.Add(100*365*24*time.Hour), now.Add(100*365*24*time.Hour)
		return
	}
	d := time.Duration(ttl) * time.Second
	p.renewAt, p.expires = now.Add(d*2/3), now.Add(d)
}
