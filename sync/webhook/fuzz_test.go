package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzHandlers posts arbitrary headers and bodies to every route. With sign
// set the test signs the request correctly (so the fuzzer explores the
// payload parsing behind the check); otherwise the fuzzed signature is sent
// as is. No input may panic, and a fetch may only be signalled for a request
// that an independent check of the provider's scheme finds authentic.
func FuzzHandlers(f *testing.F) {
	ts := strconv.FormatInt(t0.Unix(), 10)
	f.Add(uint8(0), "push", "", "d1", "", []byte(push("refs/heads/main")), "application/json", true)
	f.Add(uint8(0), "ping", "sha256=00", "d1", "", []byte(`{}`), "", false)
	f.Add(uint8(0), "push", "", "d1", "", []byte("payload="+push("refs/heads/main")), "application/x-www-form-urlencoded", true)
	f.Add(uint8(1), "Push Hook", testSecret+"x", "u1", "", []byte(push("refs/heads/dev")), "", false)
	f.Add(uint8(1), "Push Hook", "", "u1", "", []byte(push("refs/heads/main")), "", true)
	f.Add(uint8(2), "push", "", "g1", "", []byte(push("refs/heads/main")), "", true)
	f.Add(uint8(2), "push", "zz", "g1", "", []byte(`{"ref":1}`), "", false)
	f.Add(uint8(3), "", "", "msg_1", ts, []byte(`{"type":"push","data":{"ref":"refs/heads/main"}}`), "", true)
	f.Add(uint8(3), "", "v1,AAAA v1,BBBB", "msg_1", ts, []byte(`{"branch":"dev"}`), "", false)
	f.Add(uint8(3), "", "", "msg_1", "-1", []byte(`null`), "", true)
	f.Fuzz(func(t *testing.T, which uint8, event, sig, id, stamp string, body []byte, contentType string, sign bool) {
		p := Providers[int(which)%len(Providers)]
		r, err := New(Config{
			Branch: "main", GitHub: NewSecret(testSecret), GitLab: NewSecret(testSecret), Gitea: NewSecret(testSecret), Generic: NewSecret(testSecret),
			MaxBody: 4096, RateLimit: RateLimit{Rate: -1}, Logger: discard(),
			Now: func() time.Time { return t0 },
		})
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		set := func(k, v string) { h[http.CanonicalHeaderKey(k)] = []string{v} }
		set("Content-Type", contentType)
		switch p {
		case GitHub:
			set("X-GitHub-Event", event)
			set("X-GitHub-Delivery", id)
			if sign {
				sig = "sha256=" + hexHMAC(testSecret, string(body))
			}
			set("X-Hub-Signature-256", sig)
		case GitLab:
			set("X-Gitlab-Event", event)
			set("X-Gitlab-Event-UUID", id)
			if sign {
				sig = testSecret
			}
			set("X-Gitlab-Token", sig)
		case Gitea:
			set("X-Gitea-Event", event)
			set("X-Gitea-Delivery", id)
			if sign {
				sig = hexHMAC(testSecret, string(body))
			}
			set("X-Gitea-Signature", sig)
		case Generic:
			set("webhook-id", id)
			set("webhook-timestamp", stamp)
			if sign {
				sig = genericSig([]byte(testSecret), id, stamp, string(body))
			}
			set("webhook-signature", sig)
		}
		req := httptest.NewRequest(http.MethodPost, "/hooks/"+string(p), bytes.NewReader(body))
		req.Header = h
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)

		snap := r.Ledger().Snapshot()
		if len(snap) != 1 {
			t.Fatalf("%d deliveries recorded, want 1", len(snap))
		}
		d := snap[0]
		if d.Status != w.Code || d.Outcome.Refused() != (w.Code >= 400) {
			t.Fatalf("recorded %s/%d, answered %d", d.Outcome, d.Status, w.Code)
		}
		fetched := false
		select {
		case <-r.Fetch():
			fetched = true
		default:
		}
		if fetched != (d.Outcome == OutcomeAccepted) {
			t.Fatalf("outcome %s but fetch signalled: %v", d.Outcome, fetched)
		}
		ok := authentic(p, h, body)
		if fetched && !ok {
			t.Fatalf("fetch signalled for an unauthentic %s delivery (headers %v)", p, h)
		}
		if !ok && len(body) <= 4096 && d.Outcome != OutcomeBadSignature {
			t.Fatalf("unauthentic %s delivery recorded as %s, want bad_signature", p, d.Outcome)
		}
	})
}

// authentic checks a request against its provider's scheme, written apart
// from the receiver's code as the oracle of FuzzHandlers.
func authentic(p Provider, h http.Header, body []byte) bool {
	m := hmac.New(sha256.New, []byte(testSecret))
	switch p {
	case GitHub:
		m.Write(body)
		return strings.EqualFold(h.Get("X-Hub-Signature-256"), "sha256="+hex.EncodeToString(m.Sum(nil)))
	case GitLab:
		return h.Get("X-Gitlab-Token") == testSecret
	case Gitea:
		m.Write(body)
		return strings.EqualFold(h.Get("X-Gitea-Signature"), hex.EncodeToString(m.Sum(nil)))
	case Generic:
		id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
		if id == "" || ts == "" {
			return false
		}
		m.Write([]byte(id + "." + ts + "."))
		m.Write(body)
		want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
		for _, s := range strings.Fields(h.Get("webhook-signature")) {
			if s == want {
				return true
			}
		}
	}
	return false
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
