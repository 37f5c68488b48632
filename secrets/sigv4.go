package secrets

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// awsCredentials are the keys a request is signed with; sessionToken is
// set for temporary credentials (AWS_SESSION_TOKEN).
type awsCredentials struct {
	keyID, secretKey, sessionToken string
}

// sigV4 signs requests with AWS Signature Version 4 for one service in one
// region.
type sigV4 struct {
	region, service string
}

const sigV4Algorithm = "AWS4-HMAC-SHA256"

// sign adds X-Amz-Date, X-Amz-Security-Token (temporary credentials) and
// the Authorization header to req, whose body is body, as of t. Every
// header already set on req is signed, and the host. The host is set on
// req without a default port, so that what is sent is what was signed.
func (s sigV4) sign(req *http.Request, body []byte, c awsCredentials, t time.Time) {
	t = t.UTC()
	req.Host = signingHost(req.URL)
	req.Header.Set("X-Amz-Date", t.Format("20060102T150405Z"))
	if c.sessionToken != "" {
		req.Header.Set("X-Amz-Security-Token", c.sessionToken)
	}
	signed, canonHeaders := canonicalHeaders(req)
	sum := sha256.Sum256(body)
	canon := strings.Join([]string{req.Method, canonicalURI(req.URL), canonicalQuery(req.URL), canonHeaders, signed, hex.EncodeToString(sum[:])}, "\n")
	day := t.Format("20060102")
	scope := day + "/" + s.region + "/" + s.service + "/aws4_request"
	creq := sha256.Sum256([]byte(canon))
	toSign := sigV4Algorithm + "\n" + t.Format("20060102T150405Z") + "\n" + scope + "\n" + hex.EncodeToString(creq[:])
	key := hmacSHA256([]byte("AWS4"+c.secretKey), day)
	for _, part := range []string{s.region, s.service, "aws4_request"} {
		key = hmacSHA256(key, part)
	}
	sig := hex.EncodeToString(hmacSHA256(key, toSign))
	req.Header.Set("Authorization", sigV4Algorithm+" Credential="+c.keyID+"/"+scope+", SignedHeaders="+signed+", Signature="+sig)
}

// signingHost is u's host without the scheme's default port.
func signingHost(u *url.URL) string {
	host := u.Host
	if u.Port() == "443" && u.Scheme == "https" || u.Port() == "80" && u.Scheme == "http" {
		host = strings.TrimSuffix(host, ":"+u.Port())
	}
	return host
}

// canonicalHeaders returns the signed header names (lower case, sorted, ";"
// separated) and their canonical block: one "name:value" line each, values
// trimmed with inner runs of spaces collapsed, repeated values joined by ",".
func canonicalHeaders(req *http.Request) (string, string) {
	values := map[string]string{"host": req.Host}
	for k, vs := range req.Header {
		name := strings.ToLower(k)
		if name == "authorization" {
			continue
		}
		trimmed := make([]string, len(vs))
		for i, v := range vs {
			trimmed[i] = strings.Join(strings.Fields(v), " ")
		}
		values[name] = strings.Join(trimmed, ",")
	}
	names := make([]string, 0, len(values))
	for k := range values {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range names {
		b.WriteString(k + ":" + values[k] + "\n")
	}
	return strings.Join(names, ";"), b.String()
}

// canonicalURI is the URI-encoded path, encoded a second time as every
// service but S3 expects: "/" when empty.
func canonicalURI(u *url.URL) string {
	p := u.EscapedPath()
	if p == "" {
		return "/"
	}
	return awsURIEncode(p, false)
}

// canonicalQuery is the query's parameters URI-encoded and sorted by
// name, then value.
func canonicalQuery(u *url.URL) string {
	type param struct{ k, v string }
	var params []param
	for k, vs := range u.Query() {
		for _, v := range vs {
			params = append(params, param{awsURIEncode(k, true), awsURIEncode(v, true)})
		}
	}
	sort.Slice(params, func(i, j int) bool {
		if params[i].k != params[j].k {
			return params[i].k < params[j].k
		}
		return params[i].v < params[j].v
	})
	pairs := make([]string, len(params))
	for i, p := range params {
		pairs[i] = p.k + "=" + p.v
	}
	return strings.Join(pairs, "&")
}

// awsURIEncode percent-encodes every byte of s but the unreserved
// characters (and "/" unless slash).
func awsURIEncode(s string, slash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == '~', c == '/' && !slash:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}

// hmacSHA256 is HMAC-SHA256(key, data).
func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}
