package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// verdict is what a provider's check found in one request whose body was
// read in full.
type verdict struct {
	id, event string
	// outcome is set when the check decided (refused, ping, ignored);
	// empty for a signed push, which the receiver matches against the
	// tracked branch.
	outcome Outcome
	detail  string
	ref     string // a push's ref ("" when the payload names none: fetch anyway)
	// signed is true once the signature (or token) verified; a delivery
	// that is not signed never asks for a fetch.
	signed bool
}

func (v verdict) refuse(o Outcome, format string, args ...any) verdict {
	v.outcome, v.detail = o, fmt.Sprintf(format, args...)
	return v
}

// headerIDs returns a delivery's id and event from the provider's headers,
// before anything is verified (for the ledger of refused deliveries).
func headerIDs(p Provider, h http.Header) (id, event string) {
	switch p {
	case GitHub:
		return h.Get("X-GitHub-Delivery"), h.Get("X-GitHub-Event")
	case GitLab:
		return h.Get("X-Gitlab-Event-UUID"), h.Get("X-Gitlab-Event")
	case Gitea:
		return h.Get("X-Gitea-Delivery"), h.Get("X-Gitea-Event")
	case Generic:
		return h.Get("webhook-id"), ""
	}
	return "", ""
}

// mac is HMAC-SHA256 of the parts, concatenated, under key.
func mac(key []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// hexMACEqual reports, in constant time, whether sig is the hex HMAC-SHA256
// of body under key.
func hexMACEqual(key, body []byte, sig string) bool {
	got, err := hex.DecodeString(sig)
	if err != nil {
		return false
	}
	return hmac.Equal(got, mac(key, body))
}

// tokenEqual compares a token with the secret in time that depends on
// neither (it compares their SHA-256 digests, which have one length).
func tokenEqual(token string, secret []byte) bool {
	a, b := sha256.Sum256([]byte(token)), sha256.Sum256(secret)
	return hmac.Equal(a[:], b[:])
}

func checkGitHub(secret []byte, h http.Header, body []byte) verdict {
	var v verdict
	v.id, v.event = headerIDs(GitHub, h)
	sig := h.Get("X-Hub-Signature-256")
	if sig == "" {
		if h.Get("X-Hub-Signature") != "" {
			return v.refuse(OutcomeBadSignature, "only the SHA-1 X-Hub-Signature header was sent; X-Hub-Signature-256 is required (GitHub sends it when the webhook has a secret)")
		}
		return v.refuse(OutcomeBadSignature, "no X-Hub-Signature-256 header: set the webhook's secret on GitHub")
	}
	hexSig, ok := strings.CutPrefix(sig, "sha256=")
	if !ok || !hexMACEqual(secret, body, hexSig) {
		return v.refuse(OutcomeBadSignature, "X-Hub-Signature-256 does not match the body: the webhook's secret differs from the agent's")
	}
	v.signed = true
	switch v.event {
	case "ping":
		return v.refuse(OutcomePing, "")
	case "push":
		return v.push(body, h.Get("Content-Type"))
	case "":
		return v.refuse(OutcomeBadRequest, "no X-GitHub-Event header")
	}
	return v.refuse(OutcomeIgnored, "event %q is not a push: choose only push events for this webhook", clip(v.event))
}

func checkGitLab(secret []byte, h http.Header, body []byte) verdict {
	var v verdict
	v.id, v.event = headerIDs(GitLab, h)
	token := h.Get("X-Gitlab-Token")
	if token == "" {
		return v.refuse(OutcomeBadSignature, "no X-Gitlab-Token header: set the webhook's secret token in GitLab")
	}
	if !tokenEqual(token, secret) {
		return v.refuse(OutcomeBadSignature, "X-Gitlab-Token does not match: the webhook's secret token differs from the agent's")
	}
	v.signed = true
	switch v.event {
	case "Push Hook":
		return v.push(body, "")
	case "":
		return v.refuse(OutcomeBadRequest, "no X-Gitlab-Event header")
	}
	return v.refuse(OutcomeIgnored, "event %q is not a push: choose only push events for this webhook", clip(v.event))
}

func checkGitea(secret []byte, h http.Header, body []byte) verdict {
	var v verdict
	v.id, v.event = headerIDs(Gitea, h)
	sig := h.Get("X-Gitea-Signature")
	if sig == "" {
		return v.refuse(OutcomeBadSignature, "no X-Gitea-Signature header: set the webhook's secret in Gitea")
	}
	if !hexMACEqual(secret, body, sig) {
		return v.refuse(OutcomeBadSignature, "X-Gitea-Signature does not match the body: the webhook's secret differs from the agent's")
	}
	v.signed = true
	switch v.event {
	case "push":
		return v.push(body, "")
	case "":
		return v.refuse(OutcomeBadRequest, "no X-Gitea-Event header")
	}
	return v.refuse(OutcomeIgnored, "event %q is not a push: choose only push events for this webhook", clip(v.event))
}

// checkGeneric verifies a Standard Webhooks delivery: the signature, then
// the timestamp against now and tolerance, then seen (which remembers the
// id and reports whether it was already there). Its body, optional, is a
// JSON object whose "type" is the event and whose "ref" or "branch" (at the
// top or under "data") names the branch; without one the delivery fetches.
func checkGeneric(secret []byte, h http.Header, body []byte, now time.Time, tolerance time.Duration, seen func(id string) bool) verdict {
	var v verdict
	v.id, _ = headerIDs(Generic, h)
	ts, sigs := h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if v.id == "" || ts == "" || sigs == "" {
		return v.refuse(OutcomeBadSignature, "missing webhook-id, webhook-timestamp or webhook-signature header (Standard Webhooks)")
	}
	want := mac(secret, []byte(v.id), []byte("."), []byte(ts), []byte("."), body)
	ok := false
	for _, s := range strings.Fields(sigs) {
		b64, isV1 := strings.CutPrefix(s, "v1,")
		if !isV1 {
			continue // another scheme (v1a asymmetric...): not ours
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			ok = true
		}
	}
	if !ok {
		return v.refuse(OutcomeBadSignature, "no v1 signature in webhook-signature matches: the sender's secret differs from the agent's")
	}
	v.signed = true
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return v.refuse(OutcomeBadRequest, "webhook-timestamp is not unix seconds")
	}
	if off := now.Sub(time.Unix(sec, 0)); off > tolerance || off < -tolerance {
		return v.refuse(OutcomeReplay, "webhook-timestamp is %s off this host's clock (tolerance %s): a replay, or a clock to fix", off.Round(time.Second), tolerance)
	}
	if seen(v.id) {
		return v.refuse(OutcomeReplay, "webhook-id was already delivered within the last %s", 2*tolerance)
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return v
	}
	var p struct {
		Type   string `json:"type"`
		Ref    string `json:"ref"`
		Branch string `json:"branch"`
		Data   struct {
			Ref    string `json:"ref"`
			Branch string `json:"branch"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return v.refuse(OutcomeBadRequest, "body is not a JSON object: send {\"type\":\"push\",\"data\":{\"ref\":\"refs/heads/BRANCH\"}} or an empty body")
	}
	v.event = p.Type
	for _, r := range []string{p.Ref, p.Data.Ref, p.Branch, p.Data.Branch} {
		if r != "" {
			if !strings.HasPrefix(r, "refs/") {
				r = "refs/heads/" + r
			}
			v.ref = r
			break
		}
	}
	return v
}

// push reads the ref of a signed push from its JSON payload (or from the
// "payload" field of a form-encoded one, as GitHub can send).
func (v verdict) push(body []byte, contentType string) verdict {
	if mt, _, _ := mime.ParseMediaType(contentType); mt == "application/x-www-form-urlencoded" {
		q, err := url.ParseQuery(string(body))
		if err != nil {
			return v.refuse(OutcomeBadRequest, "form-encoded body does not parse")
		}
		body = []byte(q.Get("payload"))
	}
	var p map[string]json.RawMessage
	if err := json.Unmarshal(body, &p); err != nil {
		return v.refuse(OutcomeBadRequest, "push payload is not a JSON object")
	}
	if raw, ok := p["ref"]; ok {
		if err := json.Unmarshal(raw, &v.ref); err != nil {
			return v.refuse(OutcomeBadRequest, "push payload's \"ref\" is not a string")
		}
	}
	return v
}
