package secrets

import (
	"fmt"
	"strings"
)

// A reference in a task parameter or a task's env value names a secret:
//
//	${secret:NAME}                the whole secret
//	${secret:NAME#KEY}            one key of a secret that is a map (Vault data, JSON, YAML)
//	${secret:NAME#KEY@VERSION}    a version of it (Vault, AWS, Azure)
//	$${secret:...}                the text "${secret:...}" itself, not a reference
//
// NAME is letters, digits and . _ - / (no leading /, no .. element); KEY is
// letters, digits and . _ -; VERSION is letters, digits and . _ -. Anything
// else after "${secret:" is an error, so that a mistyped reference never
// reaches a task as text. References do not nest.
const (
	refOpen  = "${secret:"
	refClose = '}'
	maxRef   = 512
)

// Ref is one parsed reference.
type Ref struct {
	Name    string
	Key     string // "" = the whole secret
	Version string // "" = the current version
}

// String is the reference as written (canonical form).
func (r Ref) String() string {
	s := refOpen + r.Name
	if r.Key != "" {
		s += "#" + r.Key
	}
	if r.Version != "" {
		s += "@" + r.Version
	}
	return s + "}"
}

// Label names the secret for logs and audit records: NAME#KEY@VERSION,
// never a value.
func (r Ref) Label() string { return strings.TrimSuffix(strings.TrimPrefix(r.String(), refOpen), "}") }

// RefError is a malformed reference: where in the text and why.
type RefError struct {
	Offset int
	Reason string
}

func (e *RefError) Error() string {
	return fmt.Sprintf("bad secret reference at offset %d: %s (write ${secret:NAME}, ${secret:NAME#KEY} or ${secret:NAME#KEY@VERSION}; $${secret:...} for the text itself)", e.Offset, e.Reason)
}

// HasRef reports whether s contains a reference (or something that starts
// like one), i.e. whether Expand has work to do.
func HasRef(s string) bool { return strings.Contains(s, refOpen) }

// Refs returns the references in s, in order, or the first error.
func Refs(s string) ([]Ref, error) {
	var refs []Ref
	_, err := expand(s, func(r Ref) (string, error) {
		refs = append(refs, r)
		return "", nil
	})
	return refs, err
}

// Expand replaces every reference in s by lookup's value; "$${secret:" is
// written as "${secret:". Text without "${secret:" comes back unchanged
// (a lone "$$" stays "$$").
func Expand(s string, lookup func(Ref) (string, error)) (string, error) {
	return expand(s, lookup)
}

func expand(s string, lookup func(Ref) (string, error)) (string, error) {
	if !HasRef(s) {
		return s, nil
	}
	var b strings.Builder
	i := 0
	for {
		j := strings.Index(s[i:], refOpen)
		if j < 0 {
			b.WriteString(s[i:])
			return b.String(), nil
		}
		j += i
		if j > 0 && s[j-1] == '$' { // escaped: $${secret:...}
			b.WriteString(s[i : j-1])
			b.WriteString(refOpen)
			i = j + len(refOpen)
			continue
		}
		b.WriteString(s[i:j])
		r, n, err := parseAt(s, j)
		if err != nil {
			return "", err
		}
		v, err := lookup(r)
		if err != nil {
			return "", err
		}
		b.WriteString(v)
		i = j + n
	}
}

// parseAt parses the reference starting at s[at] (which begins with
// refOpen) and returns it with its length.
func parseAt(s string, at int) (Ref, int, error) {
	body := s[at+len(refOpen):]
	end := strings.IndexByte(body, refClose)
	if end < 0 {
		return Ref{}, 0, &RefError{at, "no closing }"}
	}
	if end > maxRef {
		return Ref{}, 0, &RefError{at, fmt.Sprintf("longer than %d characters", maxRef)}
	}
	inner := body[:end]
	if strings.Contains(inner, "${") || strings.Contains(inner, "$") {
		return Ref{}, 0, &RefError{at, "references do not nest and may not contain $"}
	}
	var r Ref
	rest := inner
	if k := strings.IndexByte(rest, '@'); k >= 0 {
		r.Version, rest = rest[k+1:], rest[:k]
		if r.Version == "" || !valid(r.Version, "._-") {
			return Ref{}, 0, &RefError{at, fmt.Sprintf("version %q: use letters, digits, . _ -", r.Version)}
		}
	}
	if k := strings.IndexByte(rest, '#'); k >= 0 {
		r.Key, rest = rest[k+1:], rest[:k]
		if r.Key == "" || !valid(r.Key, "._-") {
			return Ref{}, 0, &RefError{at, fmt.Sprintf("key %q: use letters, digits, . _ -", r.Key)}
		}
	}
	r.Name = rest
	if err := checkName(r.Name); err != "" {
		return Ref{}, 0, &RefError{at, err}
	}
	return r, len(refOpen) + end + 1, nil
}

func checkName(name string) string {
	switch {
	case name == "":
		return "no secret name"
	case !valid(name, "._-/"):
		return fmt.Sprintf("name %q: use letters, digits, . _ - /", name)
	case strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/"):
		return fmt.Sprintf("name %q: no leading or trailing /", name)
	}
	for _, el := range strings.Split(name, "/") {
		if el == "" || el == "." || el == ".." {
			return fmt.Sprintf("name %q: no empty, . or .. path element", name)
		}
	}
	return ""
}

func valid(s, extra string) bool {
	for _, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(extra, c)
		if !ok {
			return false
		}
	}
	return true
}
