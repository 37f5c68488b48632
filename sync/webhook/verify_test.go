package webhook

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// GitHub's documented test vector, from "Validating webhook deliveries".
func TestGitHubDocumentedVector(t *testing.T) {
	const (
		secret = "It's a Secret to Everybody"
		body   = "Hello, World!"
		sig    = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	)
	if !hexMACEqual([]byte(secret), []byte(body), strings.TrimPrefix(sig, "sha256=")) {
		t.Fatal("GitHub's documented signature does not verify")
	}
	f := newFixture(t, func(c *Config) { c.GitHub = NewSecret(secret) })
	w := f.post(GitHub, hdr("X-GitHub-Event", "ping", "X-Hub-Signature-256", sig), []byte(body))
	if w.Code != http.StatusOK || f.last(t).Outcome != OutcomePing {
		t.Fatalf("ping with the documented vector: %d %s, want 200 ping", w.Code, f.last(t).Outcome)
	}
	bad := "sha256=" + strings.Repeat("0", 64)
	w = f.post(GitHub, hdr("X-GitHub-Event", "ping", "X-Hub-Signature-256", bad), []byte(body))
	if w.Code != http.StatusUnauthorized {
		t.Fatalf("ping with a wrong signature: %d, want 401", w.Code)
	}
}

func TestDeliveries(t *testing.T) {
	main, dev := push("refs/heads/main"), push("refs/heads/dev")
	form := "payload=" + url.QueryEscape(main)
	whsec := "whsec_" + base64.StdEncoding.EncodeToString([]byte("raw-key-bytes"))
	fresh := t0.Add(-30 * time.Second)
	tests := []struct {
		name     string
		mod      func(*Config)
		method   string
		path     string // default /hooks/<p>
		p        Provider
		h        http.Header
		body     string
		status   int
		outcome  Outcome // "" when nothing is recorded
		branch   string
		wantBody string
	}{
		{name: "github push to the branch", p: GitHub, h: github("push", main), body: main, status: 202, outcome: OutcomeAccepted, branch: "main"},
		{name: "github push to another branch", p: GitHub, h: github("push", dev), body: dev, status: 202, outcome: OutcomeOtherBranch, branch: "dev", wantBody: "this agent tracks main"},
		{name: "github tag push", p: GitHub, h: github("push", push("refs/tags/main")), body: push("refs/tags/main"), status: 202, outcome: OutcomeOtherBranch, branch: "refs/tags/main"},
		{name: "github form-encoded push", p: GitHub, h: func() http.Header {
			h := github("push", form)
			h.Set("Content-Type", "application/x-www-form-urlencoded")
			return h
		}(), body: form, status: 202, outcome: OutcomeAccepted, branch: "main"},
		{name: "github SHA-1 only", p: GitHub, h: hdr("X-GitHub-Event", "push", "X-Hub-Signature", "sha1=0a4d55a8d778e5022fab701977c5d840bbc486d0"), body: main, status: 401, outcome: OutcomeBadSignature, wantBody: "X-Hub-Signature-256 is required"},
		{name: "github SHA-1 and a wrong SHA-256", p: GitHub, h: hdr("X-GitHub-Event", "push", "X-Hub-Signature", "sha1=00", "X-Hub-Signature-256", "sha256="+hexHMAC("other", main)), body: main, status: 401, outcome: OutcomeBadSignature},
		{name: "github no signature", p: GitHub, h: hdr("X-GitHub-Event", "push"), body: main, status: 401, outcome: OutcomeBadSignature},
		{name: "github signature without sha256=", p: GitHub, h: hdr("X-GitHub-Event", "push", "X-Hub-Signature-256", hexHMAC(testSecret, main)), body: main, status: 401, outcome: OutcomeBadSignature},
		{name: "github signature of another body", p: GitHub, h: github("push", main), body: dev, status: 401, outcome: OutcomeBadSignature},
		{name: "github ping", p: GitHub, h: github("ping", `{"zen":"Keep it logically awesome."}`), body: `{"zen":"Keep it logically awesome."}`, status: 200, outcome: OutcomePing},
		{name: "github other event", p: GitHub, h: github("issues", `{}`), body: `{}`, status: 202, outcome: OutcomeIgnored},
		{name: "github signed push that is not JSON", p: GitHub, h: github("push", "nope"), body: "nope", status: 400, outcome: OutcomeBadRequest},
		{name: "github signed, no event header", p: GitHub, h: hdr("X-Hub-Signature-256", "sha256="+hexHMAC(testSecret, main)), body: main, status: 400, outcome: OutcomeBadRequest},
		{name: "github GET", method: http.MethodGet, p: GitHub, h: github("push", main), body: main, status: 405, outcome: OutcomeBadRequest},

		{name: "gitlab push", p: GitLab, h: hdr("X-Gitlab-Event", "Push Hook", "X-Gitlab-Token", testSecret, "X-Gitlab-Event-UUID", "u1"), body: main, status: 202, outcome: OutcomeAccepted, branch: "main"},
		{name: "gitlab push to another branch", p: GitLab, h: hdr("X-Gitlab-Event", "Push Hook", "X-Gitlab-Token", testSecret), body: dev, status: 202, outcome: OutcomeOtherBranch, branch: "dev"},
		{name: "gitlab wrong token", p: GitLab, h: hdr("X-Gitlab-Event", "Push Hook", "X-Gitlab-Token", testSecret+"x"), body: main, status: 401, outcome: OutcomeBadSignature},
		{name: "gitlab no token", p: GitLab, h: hdr("X-Gitlab-Event", "Push Hook"), body: main, status: 401, outcome: OutcomeBadSignature},
		{name: "gitlab tag push", p: GitLab, h: hdr("X-Gitlab-Event", "Tag Push Hook", "X-Gitlab-Token", testSecret), body: push("refs/tags/v1"), status: 202, outcome: OutcomeIgnored},

		{name: "gitea push", p: Gitea, h: gitea("push", main), body: main, status: 202, outcome: OutcomeAccepted, branch: "main"},
		{name: "gitea push to another branch", p: Gitea, h: gitea("push", dev), body: dev, status: 202, outcome: OutcomeOtherBranch, branch: "dev"},
		{name: "gitea wrong signature", p: Gitea, h: hdr("X-Gitea-Event", "push", "X-Gitea-Signature", hexHMAC("other", main)), body: main, status: 401, outcome: OutcomeBadSignature},
		{name: "gitea sha256= prefix is not its format", p: Gitea, h: hdr("X-Gitea-Event", "push", "X-Gitea-Signature", "sha256="+hexHMAC(testSecret, main)), body: main, status: 401, outcome: OutcomeBadSignature},
		{name: "gitea no signature", p: Gitea, h: hdr("X-Gitea-Event", "push"), body: main, status: 401, outcome: OutcomeBadSignature},

		{name: "generic, empty body", p: Generic, h: generic("msg_1", fresh, ""), status: 202, outcome: OutcomeAccepted},
		{name: "generic push to the branch", p: Generic, h: generic("msg_1", fresh, `{"type":"push","data":{"ref":"refs/heads/main"}}`), body: `{"type":"push","data":{"ref":"refs/heads/main"}}`, status: 202, outcome: OutcomeAccepted, branch: "main"},
		{name: "generic plain branch name", p: Generic, h: generic("msg_1", fresh, `{"branch":"main"}`), body: `{"branch":"main"}`, status: 202, outcome: OutcomeAccepted, branch: "main"},
		{name: "generic another branch", p: Generic, h: generic("msg_1", fresh, `{"data":{"branch":"dev"}}`), body: `{"data":{"branch":"dev"}}`, status: 202, outcome: OutcomeOtherBranch, branch: "dev"},
		{name: "generic several signatures, one valid", p: Generic, h: func() http.Header {
			h := generic("msg_1", fresh, "")
			h.Set("webhook-signature", "v1,AAAA v1a,xyz "+h.Get("webhook-signature"))
			return h
		}(), status: 202, outcome: OutcomeAccepted},
		{name: "generic whsec_ secret", mod: func(c *Config) { c.Generic = NewSecret(whsec) }, p: Generic, h: func() http.Header {
			s := strconv.FormatInt(fresh.Unix(), 10)
			return hdr("webhook-id", "msg_1", "webhook-timestamp", s, "webhook-signature", genericSig([]byte("raw-key-bytes"), "msg_1", s, ""))
		}(), status: 202, outcome: OutcomeAccepted},
		{name: "generic whsec_ secret used raw is wrong", mod: func(c *Config) { c.Generic = NewSecret(whsec) }, p: Generic, h: func() http.Header {
			s := strconv.FormatInt(fresh.Unix(), 10)
			return hdr("webhook-id", "msg_1", "webhook-timestamp", s, "webhook-signature", genericSig([]byte(whsec), "msg_1", s, ""))
		}(), status: 401, outcome: OutcomeBadSignature},
		{name: "generic old timestamp", p: Generic, h: generic("msg_1", t0.Add(-6*time.Minute), ""), status: 401, outcome: OutcomeReplay, wantBody: "tolerance 5m0s"},
		{name: "generic future timestamp", p: Generic, h: generic("msg_1", t0.Add(6*time.Minute), ""), status: 401, outcome: OutcomeReplay},
		{name: "generic wrong signature", p: Generic, h: func() http.Header {
			h := generic("msg_1", fresh, "")
			h.Set("webhook-id", "msg_2")
			return h
		}(), status: 401, outcome: OutcomeBadSignature},
		{name: "generic missing headers", p: Generic, h: hdr("webhook-id", "msg_1"), status: 401, outcome: OutcomeBadSignature},
		{name: "generic signed body that is not JSON", p: Generic, h: generic("msg_1", fresh, "ref=main"), body: "ref=main", status: 400, outcome: OutcomeBadRequest},

		{name: "provider without a secret", mod: func(c *Config) { c.Gitea = Secret{} }, p: Gitea, h: gitea("push", main), body: main, status: 404, wantBody: "has no secret"},
		{name: "unknown provider", path: "/hooks/bitbucket", h: gitea("push", main), body: main, status: 404},
		{name: "not under /hooks", path: "/github", h: github("push", main), body: main, status: 404},
		{name: "under a prefix", path: "/agent/hooks/github", h: github("push", main), body: main, status: 202, outcome: OutcomeAccepted, branch: "main"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.mod)
			method, path := tt.method, tt.path
			if method == "" {
				method = http.MethodPost
			}
			if path == "" {
				path = "/hooks/" + string(tt.p)
			}
			w := f.send(method, path, "192.0.2.10:5555", tt.h, []byte(tt.body))
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d (answer %q)", w.Code, tt.status, w.Body.String())
			}
			if !strings.Contains(w.Body.String(), tt.wantBody) {
				t.Errorf("answer %q does not say %q", w.Body.String(), tt.wantBody)
			}
			if got := f.fetched(); got != (tt.outcome == OutcomeAccepted) {
				t.Errorf("fetch signalled: %v, want %v", got, !got)
			}
			snap := f.r.Ledger().Snapshot()
			if tt.outcome == "" {
				if len(snap) != 0 {
					t.Fatalf("ledger has %v, want nothing recorded", snap)
				}
				return
			}
			if len(snap) != 1 {
				t.Fatalf("ledger has %d deliveries, want 1", len(snap))
			}
			d := snap[0]
			if d.Outcome != tt.outcome || d.Status != tt.status || d.Branch != tt.branch || d.Remote != "192.0.2.10" || !d.Time.Equal(t0) {
				t.Errorf("ledger entry %+v, want outcome %s, status %d, branch %q, remote 192.0.2.10 at %s", d, tt.outcome, tt.status, tt.branch, t0)
			}
			if tt.outcome.Refused() != (tt.status >= 400) {
				t.Errorf("%s.Refused() = %v for status %d", tt.outcome, tt.outcome.Refused(), tt.status)
			}
		})
	}
}

func TestDeliveryIDs(t *testing.T) {
	f := newFixture(t, nil)
	main := push("refs/heads/main")
	f.post(GitHub, github("push", main), []byte(main))
	if d := f.last(t); d.ID != "72d3162e-cc78-11e3-81ab-4c9367dc0958" || d.Event != "push" {
		t.Errorf("github delivery recorded as id %q event %q", d.ID, d.Event)
	}
	f.post(GitLab, hdr("X-Gitlab-Event", "Push Hook", "X-Gitlab-Token", "wrong", "X-Gitlab-Event-UUID", "u-42"), []byte(main))
	if d := f.last(t); d.ID != "u-42" || d.Event != "Push Hook" || d.Outcome != OutcomeBadSignature {
		t.Errorf("refused gitlab delivery recorded as %+v, want its id and event kept", d)
	}
	body := `{"type":"push"}`
	f.post(Generic, generic("msg_7", t0, body), []byte(body))
	if d := f.last(t); d.ID != "msg_7" || d.Event != "push" {
		t.Errorf("generic delivery recorded as id %q event %q", d.ID, d.Event)
	}
}

func TestGenericReplay(t *testing.T) {
	f := newFixture(t, nil)
	h := generic("msg_r", t0, "")
	if w := f.post(Generic, h, nil); w.Code != 202 || !f.fetched() {
		t.Fatalf("first delivery: %d, want 202 and a fetch", w.Code)
	}
	f.now = t0.Add(time.Minute)
	w := f.post(Generic, h, nil)
	if w.Code != 401 || f.last(t).Outcome != OutcomeReplay || f.fetched() {
		t.Fatalf("replayed delivery: %d %s, want 401 replay and no fetch", w.Code, f.last(t).Outcome)
	}
	// The same id, freshly signed with a new timestamp, is still a replay.
	f.now = t0.Add(4 * time.Minute)
	w = f.post(Generic, generic("msg_r", f.now, ""), nil)
	if w.Code != 401 || f.last(t).Outcome != OutcomeReplay {
		t.Fatalf("same id with a new timestamp: %d %s, want 401 replay", w.Code, f.last(t).Outcome)
	}
	// An unsigned delivery is not remembered: it cannot burn an id.
	bad := generic("msg_n", f.now, "")
	bad.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(make([]byte, 32)))
	f.post(Generic, bad, nil)
	if w := f.post(Generic, generic("msg_n", f.now, ""), nil); w.Code != 202 {
		t.Fatalf("a forged delivery burnt id msg_n: the real one got %d, want 202", w.Code)
	}
}

// The Standard Webhooks specification's reference vector, with its whsec_
// secret.
func TestStandardWebhooksVector(t *testing.T) {
	const body = `{"test": 2432232314}`
	f := newFixture(t, func(c *Config) { c.Generic = NewSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") })
	f.now = time.Unix(1614265330, 0)
	h := hdr("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp", "1614265330",
		"webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	if w := f.post(Generic, h, []byte(body)); w.Code != 202 || !f.fetched() {
		t.Fatalf("reference vector: %d %q, want 202 and a fetch", w.Code, w.Body.String())
	}
}
