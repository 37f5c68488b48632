package secrets

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/celeroot/celeroot/config"
)

// ConfigValue is one value of a configuration that may hold secret
// references: where it is and what it says (references, never values).
type ConfigValue struct {
	Path string     // dotted key path: schedules.backup.params.token
	Pos  config.Pos // its position (the module file for task definitions)
	Text string
}

// ConfigValues lists the values of cfg that may hold references, in a
// stable order: schedules' params, task modules' env values and param
// defaults, and the monitoring values resolved by the agent
// (slack_webhook_url, alert_channels[].slack and .webhook, smtp.password).
func ConfigValues(cfg *config.Config) []ConfigValue {
	var out []ConfigValue
	add := func(path string, pos config.Pos, v any) {
		if s, ok := v.(string); ok && s != "" {
			out = append(out, ConfigValue{Path: path, Pos: pos, Text: s})
		}
	}
	at := func(path string) (string, config.Pos) { return path, cfg.Position(path) }
	for _, s := range cfg.Schedules.Values() {
		for _, k := range sortedKeys(s.Params) {
			p, pos := at("schedules." + s.Name + ".params." + k)
			add(p, pos, s.Params[k])
		}
	}
	for _, m := range cfg.Modules.Values() {
		pos := config.Pos{File: m.File}
		for _, t := range m.Tasks.Values() {
			for _, k := range sortedKeys(t.Env) {
				add("tasks."+m.Name+"."+t.Name+".env."+k, pos, t.Env[k])
			}
			for _, p := range t.Params.Values() {
				add("tasks."+m.Name+"."+t.Name+".params."+p.Name+".default", pos, p.Default)
			}
		}
	}
	mon := cfg.Monitoring
	p, pos := at("monitoring.slack_webhook_url")
	add(p, pos, mon.SlackWebhookURL)
	for i, ch := range mon.AlertChannels {
		p, pos = at(fmt.Sprintf("monitoring.alert_channels[%d].slack", i))
		add(p, pos, ch.Slack)
		p, pos = at(fmt.Sprintf("monitoring.alert_channels[%d].webhook", i))
		add(p, pos, ch.Webhook)
	}
	p, pos = at("monitoring.smtp.password")
	add(p, pos, mon.SMTP.Password)
	return out
}

// CheckConfig checks the secret references of cfg (ConfigValues): a
// malformed reference, or references without a secrets.provider, are
// errors naming the key and the fix. With fetch, every referenced secret is
// also fetched from the provider (values are discarded at once): a secret
// or key that does not exist, or a provider that refuses, is an error too.
// Without fetch no provider is opened and nothing leaves the machine.
func CheckConfig(ctx context.Context, cfg *config.Config, fetch bool) config.Diagnostics {
	var diags config.Diagnostics
	bad := func(v ConfigValue, hint, format string, args ...any) {
		diags = append(diags, config.Diagnostic{Pos: v.Pos, Severity: config.SeverityError, Path: v.Path, Message: fmt.Sprintf(format, args...), Hint: hint})
	}
	type use struct {
		v ConfigValue
		r Ref
	}
	var uses []use
	for _, v := range ConfigValues(cfg) {
		if !HasRef(v.Text) {
			continue
		}
		refs, err := Refs(v.Text)
		if err != nil {
			var re *RefError
			if errors.As(err, &re) {
				bad(v, "write ${secret:NAME}, ${secret:NAME#KEY} or ${secret:NAME#KEY@VERSION} ($${secret:…} for the text itself)", "bad secret reference at offset %d: %s", re.Offset, re.Reason)
			} else {
				bad(v, "", "%v", err)
			}
			continue
		}
		for _, r := range refs {
			uses = append(uses, use{v, r})
		}
	}
	if len(uses) == 0 {
		return diags
	}
	if cfg.Secrets.Provider == "" {
		for _, u := range uses {
			bad(u.v, "add a secrets section naming the provider (docs/security.md#secrets)", "references secret %s but cl.yaml has no secrets.provider", u.r.Label())
		}
		return diags
	}
	if !fetch {
		return diags
	}
	p, err := Open(cfg)
	if err != nil {
		bad(uses[0].v, "fix the secrets section (docs/security.md#secrets)", "open the secrets provider: %v", err)
		return diags
	}
	checked := map[Ref]error{}
	for _, u := range uses {
		err, done := checked[u.r]
		if !done {
			_, err = Lookup(ctx, p, u.r) // the value is dropped here
			checked[u.r] = err
		}
		if err != nil {
			hint := "create it in the " + cfg.Secrets.Provider + " provider, or fix the name"
			if errors.Is(err, ErrDenied) {
				hint = "check the provider's credentials (docs/security.md#providers)"
			}
			bad(u.v, hint, "%v", err)
		}
	}
	return diags
}

// Expander resolves the references in configuration values the agent uses
// itself (the monitoring webhooks and SMTP password), at each use, with a
// short cache: a rotated secret is picked up within the cache's TTL without
// a restart. Safe for concurrent use.
type Expander struct {
	cfg *config.Config
	ttl time.Duration
	now func() time.Time

	mu    sync.Mutex
	p     Provider
	cache map[Ref]cached
}

type cached struct {
	v  string
	at time.Time
}

// DefaultExpandTTL is how long the agent keeps a resolved monitoring secret.
const DefaultExpandTTL = time.Minute

// NewExpander returns an Expander for cfg's provider; ttl <= 0 caches
// nothing. The provider is opened at the first reference.
func NewExpander(cfg *config.Config, ttl time.Duration) *Expander {
	return &Expander{cfg: cfg, ttl: ttl, now: time.Now, cache: map[Ref]cached{}}
}

// Expand returns s with its references replaced by their values (s itself
// when it holds none). Errors name the secret, never a value.
func (x *Expander) Expand(ctx context.Context, s string) (string, error) {
	if !HasRef(s) {
		return s, nil
	}
	return Expand(s, func(r Ref) (string, error) { return x.lookup(ctx, r) })
}

func (x *Expander) lookup(ctx context.Context, r Ref) (string, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if c, ok := x.cache[r]; ok && x.now().Sub(c.at) < x.ttl {
		return c.v, nil
	}
	if x.p == nil {
		p, err := Open(x.cfg)
		if err != nil {
			return "", err
		}
		x.p = p
	}
	v, err := Lookup(ctx, x.p, r)
	if err != nil {
		return "", err
	}
	if x.ttl > 0 {
		x.cache[r] = cached{v: v, at: x.now()}
	}
	return v, nil
}
