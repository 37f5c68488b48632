package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/celeroot/celeroot/config"
)

// Provider fetches secrets. Get returns the secret's value: a map of keys
// (Vault's data, a JSON or YAML object) or one string; Lookup picks the
// reference's key from it.
type Provider interface {
	Get(ctx context.Context, r Ref) (Value, error)
}

// Value is a fetched secret: Fields when it is a map, Text otherwise.
type Value struct {
	Text   string
	Fields map[string]string
	// Structured: Text may be a JSON or YAML object whose keys a
	// reference's #KEY selects (AWS SecretString, files, age files).
	Structured bool
}

// ErrNotFound is returned (wrapped) when a secret or its key does not exist.
var ErrNotFound = errors.New("secret not found")

// ErrDenied is returned (wrapped) when the provider refuses the credentials.
var ErrDenied = errors.New("access to the secret denied")

// Lookup fetches r through p and returns the value the reference names.
func Lookup(ctx context.Context, p Provider, r Ref) (string, error) {
	v, err := p.Get(ctx, r)
	if err != nil {
		return "", fmt.Errorf("secret %s: %w", r.Label(), err)
	}
	if r.Key == "" {
		if v.Fields != nil {
			return "", fmt.Errorf("secret %s is a map of keys: name one, e.g. ${secret:%s#%s}", r.Label(), r.Name, firstKey(v.Fields))
		}
		return v.Text, nil
	}
	fields := v.Fields
	if fields == nil {
		if !v.Structured {
			return "", fmt.Errorf("secret %s: its value has no keys: write ${secret:%s} without #%s", r.Label(), r.Name, r.Key)
		}
		var err error
		if fields, err = parseFields(v.Text); err != nil {
			return "", fmt.Errorf("secret %s: %w", r.Label(), err)
		}
	}
	s, ok := fields[r.Key]
	if !ok {
		return "", fmt.Errorf("secret %s: no key %q: %w", r.Label(), r.Key, ErrNotFound)
	}
	return s, nil
}

func firstKey(m map[string]string) string {
	for k := range m {
		return k
	}
	return "KEY"
}

// parseFields reads a JSON or YAML object of scalar values. Its error never
// quotes the text.
func parseFields(text string) (map[string]string, error) {
	var raw map[string]any
	if err := json.Unmarshal([]byte(text), &raw); err != nil {
		if yerr := yaml.Unmarshal([]byte(text), &raw); yerr != nil || raw == nil {
			return nil, errors.New("the value is not a JSON or YAML object, so it has no keys")
		}
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		switch v := v.(type) {
		case string:
			out[k] = v
		case nil:
			out[k] = ""
		case map[string]any, []any:
			b, _ := json.Marshal(v)
			out[k] = string(b)
		default:
			out[k] = fmt.Sprint(v)
		}
	}
	return out, nil
}

// Open returns the provider that cfg's secrets section names. It reads no
// credential and opens no connection yet: that happens at the first Get,
// so that a worker whose tasks use no secret never needs them.
func Open(cfg *config.Config) (Provider, error) {
	s := cfg.Secrets
	switch s.Provider {
	case "":
		return nil, errors.New("cl.yaml has no secrets.provider: add a secrets section (docs/security.md#secrets)")
	case "env":
		return &envProvider{prefix: s.Path}, nil
	case "file":
		if s.Path == "" {
			return nil, errors.New("secrets.provider file needs secrets.path: the directory holding one file per secret")
		}
		return &fileProvider{dir: Resolve(cfg, s.Path)}, nil
	case "age":
		return &ageProvider{dir: AgeDir(cfg), identity: credential{file: pathOr(cfg, s.IdentityFile), env: envOr(s.IdentityEnv, DefaultIdentityEnv), what: "age identity", keys: "secrets.identity_file or secrets.identity_env"}}, nil
	case "vault":
		return newVault(cfg)
	case "aws-secrets":
		return newAWS(cfg)
	case "azure-kv":
		return newAzure(cfg)
	}
	return nil, fmt.Errorf("secrets.provider %q is not one of %s", s.Provider, strings.Join(config.SecretsProviders, ", "))
}

// Resolve makes p (from cl.yaml) absolute: ~/ expanded, relative to
// cl.yaml's directory.
func Resolve(cfg *config.Config, p string) string {
	p = config.ExpandHome(p)
	if !filepath.IsAbs(p) && cfg.Source.Dir != "" {
		p = filepath.Join(cfg.Source.Dir, p)
	}
	return p
}

func pathOr(cfg *config.Config, p string) string {
	if p == "" {
		return ""
	}
	return Resolve(cfg, p)
}

func envOr(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

// credential is one credential from a file or an environment variable
// (the file wins when both are named). It is read at each use, so a
// rotated file is picked up.
type credential struct {
	file, env string
	what      string // "Vault token"
	keys      string // the cl.yaml keys that name it, for the error
}

func (c credential) read() (string, error) {
	if c.file != "" {
		b, err := os.ReadFile(c.file)
		if err != nil {
			return "", fmt.Errorf("read the %s: %w (set %s)", c.what, err, c.keys)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", fmt.Errorf("the %s file %s is empty", c.what, c.file)
		}
		return v, nil
	}
	if c.env != "" {
		if v := os.Getenv(c.env); v != "" {
			return v, nil
		}
	}
	return "", fmt.Errorf("no %s: set %s (the file or the environment variable %s)", c.what, c.keys, c.env)
}

// CredentialEnv returns the environment variables that hold cfg's secrets
// provider credentials: a worker removes them from its tasks' environment.
func CredentialEnv(cfg *config.Config) []string {
	s := cfg.Secrets
	switch s.Provider {
	case "age":
		return []string{envOr(s.IdentityEnv, DefaultIdentityEnv)}
	case "vault":
		return []string{envOr(s.TokenEnv, "VAULT_TOKEN"), envOr(s.SecretEnv, "VAULT_SECRET_ID")}
	case "aws-secrets":
		return []string{envOr(s.KeyIDEnv, "AWS_ACCESS_KEY_ID"), envOr(s.SecretEnv, "AWS_SECRET_ACCESS_KEY"), "AWS_SESSION_TOKEN"}
	case "azure-kv":
		return []string{envOr(s.SecretEnv, "AZURE_CLIENT_SECRET")}
	}
	return nil
}
