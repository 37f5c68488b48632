package config

import (
	"net/url"
	"strings"
)

// Masked stands in for secret values in rendered output.
const Masked = "****"

// secretParams are query parameter names whose values are credentials
// (compared case-insensitively; a name ending in one of them counts too,
// so sentinel_password and x-api-key are masked).
var secretParams = []string{"password", "passwd", "pass", "pwd", "secret", "token", "key", "auth", "signature", "sig", "credential", "credentials"}

// MaskURL hides every credential of a URL: the password of its user info
// (redis://u:pw@h → redis://u:****@h) and the values of query parameters
// that hold secrets (?sentinel_password=pw → ?sentinel_password=****). It
// works on text, not on a parsed URL, so a URL that does not parse (a '%'
// not followed by hex, a space, '#' or '/' in the password) is masked too.
// It is the one masking function: everything that prints a URL from
// cl.yaml (config show, validation messages, connect errors) goes through it.
func MaskURL(raw string) string {
	prefix, rest := "", raw
	if i := strings.Index(raw, "://"); i >= 0 {
		prefix, rest = raw[:i+3], raw[i+3:]
	}
	// The user info ends at the last '@' (as queue.ParseURL reads it), so a
	// password with '/', '?', '#' or '@' in it is masked whole. An '@' that
	// comes after the path or query started is not user info.
	// Without a "://" the text is no URL at all (redis//:pw@h): everything
	// before the last '@' may be a secret.
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		user, _, hasPass := strings.Cut(rest[:at], ":")
		switch {
		case !strings.ContainsAny(user, "/?#"):
			if hasPass {
				prefix += user + ":" + Masked + "@"
			} else {
				prefix += rest[:at+1]
			}
			rest = rest[at+1:]
		case prefix == "":
			prefix, rest = Masked+"@", rest[at+1:]
		}
	}
	base, query, hasQuery := strings.Cut(rest, "?")
	if !hasQuery {
		return prefix + rest
	}
	params := strings.Split(query, "&")
	for i, p := range params {
		k, _, hasValue := strings.Cut(p, "=")
		if hasValue && isSecretParam(k) {
			params[i] = k + "=" + Masked
		}
	}
	return prefix + base + "?" + strings.Join(params, "&")
}

func isSecretParam(k string) bool {
	if uk, err := url.QueryUnescape(k); err == nil {
		k = uk
	}
	k = strings.ToLower(k)
	for _, s := range secretParams {
		if strings.HasSuffix(k, s) {
			return true
		}
	}
	return false
}

// maskPath keeps scheme and host of a URL whose path is a credential
// (Slack and generic webhooks).
func maskPath(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return Masked
	}
	return u.Scheme + "://" + u.Host + "/" + Masked
}

// IsSecretName reports whether a parameter or attribute named k holds a
// credential (password, token, secret, key, …), by the same names that
// MaskURL masks in query strings.
func IsSecretName(k string) bool { return isSecretParam(k) }
