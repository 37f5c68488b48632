package secrets

import (
	"context"
	"fmt"
	"sort"
)

// Resolved is what resolving a run's references gave: the values to hand
// to the task, the masker for its output, and the names (never values)
// for the audit trail.
type Resolved struct {
	Params map[string]any
	Env    map[string]string
	Names  []string // labels of the secrets resolved, sorted, each once
	Masker *Masker
}

// Uses reports whether params (string values) or env hold a reference, and
// the first malformed one.
func Uses(params map[string]any, env map[string]string) (bool, error) {
	uses := false
	check := func(where, s string) error {
		if !HasRef(s) {
			return nil
		}
		refs, err := Refs(s)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		uses = uses || len(refs) > 0
		return nil
	}
	for _, k := range sortedKeys(params) {
		if s, ok := params[k].(string); ok {
			if err := check("param "+k, s); err != nil {
				return false, err
			}
		}
	}
	for _, k := range sortedKeys(env) {
		if err := check("env "+k, env[k]); err != nil {
			return false, err
		}
	}
	return uses, nil
}

// ResolveRun replaces the references in params' string values and in env
// with values from p (nil p: an error naming the missing provider). The
// inputs are not modified. Each secret is fetched once per call.
func ResolveRun(ctx context.Context, p Provider, params map[string]any, env map[string]string) (*Resolved, error) {
	out := &Resolved{Params: make(map[string]any, len(params)), Env: make(map[string]string, len(env)), Masker: NewMasker()}
	cache := map[Ref]string{}
	names := map[string]bool{}
	lookup := func(r Ref) (string, error) {
		if v, ok := cache[r]; ok {
			return v, nil
		}
		if p == nil {
			return "", fmt.Errorf("%s needs a secrets provider: add secrets.provider to cl.yaml (docs/security.md#secrets)", r.String())
		}
		v, err := Lookup(ctx, p, r)
		if err != nil {
			return "", err
		}
		cache[r] = v
		names[r.Label()] = true
		out.Masker.Add(v)
		return v, nil
	}
	for _, k := range sortedKeys(params) {
		v := params[k]
		if s, ok := v.(string); ok && HasRef(s) {
			x, err := Expand(s, lookup)
			if err != nil {
				return nil, fmt.Errorf("param %s: %w", k, err)
			}
			v = x
		}
		out.Params[k] = v
	}
	for _, k := range sortedKeys(env) {
		x, err := Expand(env[k], lookup)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", k, err)
		}
		out.Env[k] = x
	}
	for n := range names {
		out.Names = append(out.Names, n)
	}
	sort.Strings(out.Names)
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
