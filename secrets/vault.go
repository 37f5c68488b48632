package secrets

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strconv"
	"sync"
	"time"

	vault "github.com/hashicorp/vault/api"

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
type vaultProvider struct {
	addr, mount, prefix string
	caFile              string
	token               credential
	roleID              string
	secretID            credential
	httpClient          *http.Client // tests

	once   sync.Once
	client *vault.Client
	err    error

	mu      sync.Mutex
	login   string    // AppRole token
	renewAt time.Time // when to renew it
	expires time.Time
	now     func() time.Time
}

const vaultTimeout = 15 * time.Second

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

// api builds the client once. The client's own reading of VAULT_*
// variables is overridden by what cl.yaml says.
func (p *vaultProvider) api() (*vault.Client, error) {
	p.once.Do(func() {
		c := vault.DefaultConfig()
		if c.Error != nil {
			p.err = c.Error
			return
		}
		c.Address, c.Timeout, c.MaxRetries = p.addr, vaultTimeout, 1
		if p.httpClient != nil {
			c.HttpClient = p.httpClient
		} else if p.caFile != "" {
			if err := c.ConfigureTLS(&vault.TLSConfig{CACert: p.caFile}); err != nil {
				p.err = fmt.Errorf("secrets.ca_file: %w", err)
				return
			}
		}
		cl, err := vault.NewClient(c)
		if err != nil {
			p.err = fmt.Errorf("vault client: %w", err)
			return
		}
		cl.ClearToken()
		p.client = cl
	})
	return p.client, p.err
}

func (p *vaultProvider) Get(ctx context.Context, r Ref) (Value, error) {
	cl, err := p.api()
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
		tok, err := p.currentToken(ctx, cl)
		if err != nil {
			return Value{}, err
		}
		c, err := withToken(cl, tok)
		if err != nil {
			return Value{}, err
		}
		v, err := p.read(ctx, c, r.Name, version)
		var re *vault.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusForbidden {
			if p.roleID != "" && attempt == 0 { // an expired or revoked AppRole token: log in again
				p.forget(tok)
				continue
			}
			return Value{}, fmt.Errorf("vault refused the token (403 permission denied): %w; check the token's policy for %s/data/%s", ErrDenied, p.mount, p.join(r.Name))
		}
		return v, err
	}
}

func (p *vaultProvider) join(name string) string {
	if p.prefix == "" {
		return name
	}
	return path.Join(p.prefix, name)
}

func (p *vaultProvider) read(ctx context.Context, cl *vault.Client, name string, version int) (Value, error) {
	ctx, cancel := context.WithTimeout(ctx, vaultTimeout)
	defer cancel()
	kv := cl.KVv2(p.mount)
	var s *vault.KVSecret
	var err error
	if version > 0 {
		s, err = kv.GetVersion(ctx, p.join(name), version)
	} else {
		s, err = kv.Get(ctx, p.join(name))
	}
	if errors.Is(err, vault.ErrSecretNotFound) {
		return Value{}, fmt.Errorf("%s/%s: %w", p.mount, p.join(name), ErrNotFound)
	}
	if err != nil {
		return Value{}, err
	}
	fields := make(map[string]string, len(s.Data))
	for k, v := range s.Data {
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
func (p *vaultProvider) currentToken(ctx context.Context, cl *vault.Client) (string, error) {
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
		if err := p.renew(ctx, cl); err == nil {
			return p.login, nil
		}
	}
	return p.login, p.appRoleLogin(ctx, cl)
}

func (p *vaultProvider) forget(tok string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.login == tok {
		p.login = ""
	}
}

func (p *vaultProvider) appRoleLogin(ctx context.Context, cl *vault.Client) error {
	sid, err := p.secretID.read()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, vaultTimeout)
	defer cancel()
	c, err := withToken(cl, "")
	if err != nil {
		return err
	}
	s, err := c.Logical().WriteWithContext(ctx, "auth/approle/login", map[string]any{"role_id": p.roleID, "secret_id": sid})
	if err != nil {
		return fmt.Errorf("vault AppRole login: %w", err)
	}
	if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
		return errors.New("vault AppRole login: no token in the answer")
	}
	p.setToken(s.Auth.ClientToken, s.Auth.LeaseDuration)
	return nil
}

func (p *vaultProvider) renew(ctx context.Context, cl *vault.Client) error {
	ctx, cancel := context.WithTimeout(ctx, vaultTimeout)
	defer cancel()
	c, err := withToken(cl, p.login)
	if err != nil {
		return err
	}
	s, err := c.Auth().Token().RenewSelfWithContext(ctx, 0)
	if err != nil || s == nil || s.Auth == nil {
		return fmt.Errorf("renew the vault token: %v", err)
	}
	tok := s.Auth.ClientToken
	if tok == "" {
		tok = p.login
	}
	p.setToken(tok, s.Auth.LeaseDuration)
	return nil
}

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

// withToken is a copy of cl that sends tok ("" none): the shared client
// keeps no token, so concurrent runs never see each other's.
func withToken(cl *vault.Client, tok string) (*vault.Client, error) {
	c, err := cl.Clone()
	if err != nil {
		return nil, err
	}
	if tok == "" {
		c.ClearToken()
	} else {
		c.SetToken(tok)
	}
	return c, nil
}
