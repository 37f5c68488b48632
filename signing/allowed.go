package signing

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// AllowedSigner is one line of an OpenSSH allowed-signers file
// (ssh-keygen(1), ALLOWED SIGNERS): principals, options, a public key.
type AllowedSigner struct {
	Line        int
	Principals  []string // patterns: * and ? match, a leading ! negates
	Namespaces  []string // nil: every namespace
	ValidAfter  time.Time
	ValidBefore time.Time // zero: no bound
	Key         ssh.PublicKey
}

// maxAllowedLine caps one line of an allowed-signers file.
const maxAllowedLine = 64 << 10

// ParseAllowedSigners reads an allowed-signers file. Blank lines and
// lines starting with # are skipped. cert-authority lines are refused:
// list the signers' own keys.
func ParseAllowedSigners(data []byte) ([]AllowedSigner, error) {
	var out []AllowedSigner
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxAllowedLine)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		s, err := parseAllowedLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		s.Line = n
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line too long or unreadable: %w", err)
	}
	return out, nil
}

func parseAllowedLine(line string) (AllowedSigner, error) {
	var s AllowedSigner
	principals, rest, err := nextField(line)
	if err != nil {
		return s, err
	}
	for _, p := range strings.Split(principals, ",") {
		if p == "" || p == "!" {
			return s, fmt.Errorf("empty principal in %q: write principals as name[,name...]", principals)
		}
		s.Principals = append(s.Principals, p)
	}
	if rest == "" {
		return s, fmt.Errorf("no public key after the principals: write \"principals [options] keytype base64-key\"")
	}
	if !isKeyType(rest) {
		var opts string
		if opts, rest, err = nextField(rest); err != nil {
			return s, err
		}
		if err := s.parseOptions(opts); err != nil {
			return s, err
		}
	}
	key, _, _, tail, err := ssh.ParseAuthorizedKey([]byte(rest))
	if err != nil {
		return s, fmt.Errorf("public key: %w: write \"keytype base64-key\" as in a .pub file", err)
	}
	if len(bytes.TrimSpace(tail)) != 0 {
		return s, fmt.Errorf("one key a line: put each signer on its own line")
	}
	if _, ok := key.(*ssh.Certificate); ok {
		return s, fmt.Errorf("certificates are not signers: list the signer's own public key")
	}
	s.Key = key
	return s, nil
}

// isKeyType reports whether the field starting s is a public key type
// (so there are no options).
func isKeyType(s string) bool {
	f := s
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		f = s[:i]
	}
	return strings.HasPrefix(f, "ssh-") || strings.HasPrefix(f, "ecdsa-sha2-") || strings.HasPrefix(f, "sk-")
}

// nextField splits off the first whitespace-separated field; double quotes
// group (a quoted principal, or an option value with spaces or commas).
func nextField(s string) (field, rest string, err error) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			quoted = !quoted
		case (c == ' ' || c == '\t') && !quoted:
			return unquoteField(s[:i]), strings.TrimLeft(s[i:], " \t"), nil
		}
	}
	if quoted {
		return "", "", fmt.Errorf("unterminated quote in %q: close it with \"", s)
	}
	return unquoteField(s), "", nil
}

// unquoteField drops the quotes around a whole field ("a b,c" → a b,c);
// quotes inside options stay for parseOptions.
func unquoteField(f string) string {
	if len(f) >= 2 && f[0] == '"' && f[len(f)-1] == '"' && !strings.Contains(f[1:len(f)-1], "\"") {
		return f[1 : len(f)-1]
	}
	return f
}

func (s *AllowedSigner) parseOptions(opts string) error {
	for opts != "" {
		var opt string
		opt, opts = splitOption(opts)
		name, value, hasValue := strings.Cut(opt, "=")
		name = strings.ToLower(name)
		if hasValue {
			if len(value) < 2 || value[0] != '"' || value[len(value)-1] != '"' {
				return fmt.Errorf("option %s: quote its value (%s=\"...\")", name, name)
			}
			value = value[1 : len(value)-1]
		}
		var err error
		switch {
		case name == "cert-authority" && !hasValue:
			return fmt.Errorf("cert-authority is not supported: list each signer's own public key")
		case name == "namespaces" && hasValue:
			s.Namespaces = nil
			for _, ns := range strings.Split(value, ",") {
				if ns = strings.TrimSpace(ns); ns != "" {
					s.Namespaces = append(s.Namespaces, ns)
				}
			}
			if s.Namespaces == nil {
				return fmt.Errorf("namespaces=\"\" names no namespace: list them, e.g. namespaces=\"cl-config,git\"")
			}
		case name == "valid-after" && hasValue:
			s.ValidAfter, err = parseSignerTime(value)
		case name == "valid-before" && hasValue:
			s.ValidBefore, err = parseSignerTime(value)
		default:
			return fmt.Errorf("unknown option %q: use namespaces=, valid-after= or valid-before=", opt)
		}
		if err != nil {
			return fmt.Errorf("option %s: %w", name, err)
		}
	}
	return nil
}

// splitOption splits off one comma-separated option; commas inside
// quotes do not split.
func splitOption(s string) (opt, rest string) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				return s[:i], s[i+1:]
			}
		}
	}
	return s, ""
}

// parseSignerTime reads YYYYMMDD[HHMM[SS]] with an optional trailing Z
// (UTC); without Z it is local time, as ssh-keygen reads it.
func parseSignerTime(v string) (time.Time, error) {
	loc := time.Local
	if strings.HasSuffix(v, "Z") || strings.HasSuffix(v, "z") {
		v, loc = v[:len(v)-1], time.UTC
	}
	var layout string
	switch len(v) {
	case 8:
		layout = "20060102"
	case 12:
		layout = "200601021504"
	case 14:
		layout = "20060102150405"
	default:
		return time.Time{}, fmt.Errorf("%q is not a time: write YYYYMMDD[HHMM[SS]][Z]", v)
	}
	t, err := time.ParseInLocation(layout, v, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a time: write YYYYMMDD[HHMM[SS]][Z]", v)
	}
	return t, nil
}

// AllowsNamespace reports whether s may sign in namespace ns.
func (s AllowedSigner) AllowsNamespace(ns string) bool {
	if s.Namespaces == nil {
		return true
	}
	for _, n := range s.Namespaces {
		if matchPattern(n, ns) {
			return true
		}
	}
	return false
}

// ValidAt reports whether t lies within s's validity (valid-after ≤ t ≤
// valid-before, as ssh-keygen judges it).
func (s AllowedSigner) ValidAt(t time.Time) bool {
	if !s.ValidAfter.IsZero() && t.Before(s.ValidAfter) {
		return false
	}
	return s.ValidBefore.IsZero() || !t.After(s.ValidBefore)
}

// MatchesPrincipal reports whether principal p matches s's patterns (a
// negated pattern that matches refuses it).
func (s AllowedSigner) MatchesPrincipal(p string) bool {
	ok := false
	for _, pat := range s.Principals {
		if neg, found := strings.CutPrefix(pat, "!"); found {
			if matchPattern(neg, p) {
				return false
			}
		} else if matchPattern(pat, p) {
			ok = true
		}
	}
	return ok
}

// matchPattern matches s against pat, where * is any run of characters
// and ? any one character.
func matchPattern(pat, s string) bool {
	for len(pat) > 0 {
		switch pat[0] {
		case '*':
			for len(pat) > 1 && pat[1] == '*' {
				pat = pat[1:]
			}
			for i := len(s); i >= 0; i-- {
				if matchPattern(pat[1:], s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
		default:
			if s == "" || s[0] != pat[0] {
				return false
			}
		}
		pat, s = pat[1:], s[1:]
	}
	return s == ""
}
