package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const testSecret = "s3cr3t-that-must-not-leak"

var t0 = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

// fixture is a Receiver on a fake clock whose log goes to a buffer.
type fixture struct {
	r    *Receiver
	now  time.Time
	logs *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newFixture(t *testing.T, mod func(*Config)) *fixture {
	t.Helper()
	f := &fixture{now: t0, logs: &syncBuffer{}}
	cfg := Config{
		Branch:  "main",
		GitHub:  NewSecret(testSecret),
		GitLab:  NewSecret(testSecret),
		Gitea:   NewSecret(testSecret),
		Generic: NewSecret(testSecret),
		Now:     func() time.Time { return f.now },
		Logger:  slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.r = r
	return f
}

// post sends body to /hooks/<p> from remote with the headers h.
func (f *fixture) post(p Provider, h http.Header, body []byte) *httptest.ResponseRecorder {
	return f.send(http.MethodPost, "/hooks/"+string(p), "192.0.2.10:5555", h, body)
}

func (f *fixture) send(method, path, remote string, h http.Header, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.RemoteAddr = remote
	for k, vs := range h {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	w := httptest.NewRecorder()
	f.r.ServeHTTP(w, req)
	return w
}

// fetched takes the pending fetch signal, if any.
func (f *fixture) fetched() bool {
	select {
	case <-f.r.Fetch():
		return true
	default:
		return false
	}
}

// last is the newest ledger entry.
func (f *fixture) last(t *testing.T) Delivery {
	t.Helper()
	s := f.r.Ledger().Snapshot()
	if len(s) == 0 {
		t.Fatal("ledger is empty")
	}
	return s[0]
}

func hexHMAC(secret, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	return hex.EncodeToString(m.Sum(nil))
}

func genericSig(secret []byte, id, ts, body string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(id + "." + ts + "." + body))
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func push(ref string) string { return `{"ref":"` + ref + `","after":"c3d4e5f"}` }

func github(event, body string) http.Header {
	return hdr("X-GitHub-Event", event, "X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958",
		"X-Hub-Signature-256", "sha256="+hexHMAC(testSecret, body), "Content-Type", "application/json")
}

func gitea(event, body string) http.Header {
	return hdr("X-Gitea-Event", event, "X-Gitea-Delivery", "d1", "X-Gitea-Signature", hexHMAC(testSecret, body))
}

func generic(id string, ts time.Time, body string) http.Header {
	s := strconv.FormatInt(ts.Unix(), 10)
	return hdr("webhook-id", id, "webhook-timestamp", s, "webhook-signature", genericSig([]byte(testSecret), id, s, body))
}

func TestTooLarge(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 4<<20)
	signed := github("push", string(big)) // a valid signature: the size is refused first anyway
	tests := []struct {
		name   string
		length int64 // Content-Length; -1: chunked, only the reader finds out
	}{
		{"with Content-Length", int64(len(big))},
		{"chunked", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			req := httptest.NewRequest(http.MethodPost, "/hooks/github", bytes.NewReader(big))
			req.ContentLength = tt.length
			req.Header = signed.Clone()
			w := httptest.NewRecorder()
			f.r.ServeHTTP(w, req)
			if w.Code != http.StatusRequestEntityTooLarge || f.last(t).Outcome != OutcomeTooLarge || f.fetched() {
				t.Fatalf("4 MiB body: %d %s, want 413 too_large and no fetch", w.Code, f.last(t).Outcome)
			}
		})
	}
	t.Run("exactly the limit", func(t *testing.T) {
		f := newFixture(t, nil)
		body := `{"ref":"refs/heads/main","pad":"` + strings.Repeat("x", DefaultMaxBody-34) + `"}`
		if len(body) != DefaultMaxBody {
			t.Fatalf("test body is %d bytes, want %d", len(body), DefaultMaxBody)
		}
		if w := f.post(GitHub, github("push", body), []byte(body)); w.Code != 202 || !f.fetched() {
			t.Fatalf("body of exactly %d bytes: %d, want 202 and a fetch", DefaultMaxBody, w.Code)
		}
	})
}

func TestRateLimit(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.RateLimit = RateLimit{Rate: 0.5, Burst: 3} })
	main := push("refs/heads/main")
	from := func(remote string) int {
		return f.send(http.MethodPost, "/hooks/github", remote, github("push", main), []byte(main)).Code
	}
	for i := range 3 {
		if c := from("192.0.2.1:1"); c != 202 {
			t.Fatalf("delivery %d within the burst: %d, want 202", i+1, c)
		}
	}
	f.fetched()
	w := f.send(http.MethodPost, "/hooks/github", "192.0.2.1:2", github("push", main), []byte(main))
	if w.Code != 429 || w.Header().Get("Retry-After") != "2" || f.last(t).Outcome != OutcomeRateLimited || f.fetched() {
		t.Fatalf("4th delivery: %d Retry-After %q %s, want 429, Retry-After 2, rate_limited, no fetch", w.Code, w.Header().Get("Retry-After"), f.last(t).Outcome)
	}
	if c := f.send(http.MethodGet, "/hooks/github", "192.0.2.1:3", nil, nil).Code; c != 429 {
		t.Fatalf("GET from a limited client: %d, want 429 (every request counts)", c)
	}
	if c := from("192.0.2.2:1"); c != 202 {
		t.Fatalf("another client: %d, want 202 (the limit is per client)", c)
	}
	if c := from("[2001:db8::1]:1"); c != 202 {
		t.Fatalf("IPv6 client: %d, want 202", c)
	}
	for range 2 {
		from("[2001:db8::2]:1")
	}
	if c := from("[2001:db8::3]:1"); c != 429 {
		t.Fatalf("4th delivery from one IPv6 /64: %d, want 429 (a /64 is one client)", c)
	}
	f.now = f.now.Add(2 * time.Second)
	if c := from("192.0.2.1:1"); c != 202 {
		t.Fatalf("after 2 s at 0.5/s: %d, want 202 (one token back)", c)
	}
	if c := from("192.0.2.1:1"); c != 429 {
		t.Fatalf("second delivery after 2 s: %d, want 429", c)
	}

	off := newFixture(t, func(c *Config) { c.RateLimit = RateLimit{Rate: -1} })
	for i := range 100 {
		if w := off.post(GitHub, github("ping", "{}"), []byte("{}")); w.Code != 200 {
			t.Fatalf("rate limit off, delivery %d: %d, want 200", i+1, w.Code)
		}
	}
}

func TestCoalescing(t *testing.T) {
	f := newFixture(t, nil)
	main := push("refs/heads/main")
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if w := f.post(GitHub, github("push", main), []byte(main)); w.Code != 202 {
				t.Errorf("delivery: %d, want 202", w.Code)
			}
		})
	}
	wg.Wait()
	if !f.fetched() || f.fetched() {
		t.Fatal("10 deliveries while no fetch ran: want exactly one fetch signal")
	}
	counts := f.r.Ledger().Counts()
	if counts[OutcomeAccepted] != 1 || counts[OutcomeCoalesced] != 9 {
		t.Fatalf("counts %v, want 1 accepted and 9 coalesced", counts)
	}
	// The fetch started (the signal was taken): the next push asks again.
	f.post(GitHub, github("push", main), []byte(main))
	if f.last(t).Outcome != OutcomeAccepted || !f.fetched() {
		t.Fatalf("push after the fetch started: %s, want accepted and a new fetch", f.last(t).Outcome)
	}
}

func TestSecretsNeverLogged(t *testing.T) {
	f := newFixture(t, nil)
	const marker = "BODY-MARKER-4242"
	body := `{"ref":"refs/heads/main","note":"` + marker + `"}`
	f.post(GitHub, github("push", body), []byte(body))
	f.post(GitHub, hdr("X-GitHub-Event", "push", "X-Hub-Signature-256", "sha256="+hexHMAC(testSecret, "x")), []byte(body))
	f.post(GitLab, hdr("X-Gitlab-Event", "Push Hook", "X-Gitlab-Token", testSecret), []byte(body))
	f.post(GitLab, hdr("X-Gitlab-Event", "Push Hook", "X-Gitlab-Token", testSecret+"-nearly"), []byte(body))
	f.post(Gitea, gitea("push", body), []byte(body))
	f.post(Generic, generic("msg_1", t0, body), []byte(body))
	f.post(Generic, generic("msg_1", t0, body), []byte(body))
	f.post(GitHub, github("push", "not json "+marker), []byte("not json "+marker))
	// A config logged by mistake shows no secret either.
	cfg := Config{Branch: "main", GitHub: NewSecret(testSecret)}
	log := slog.New(slog.NewTextHandler(f.logs, nil))
	log.Info("config", "cfg", cfg, "secret", cfg.GitHub)
	slog.New(slog.NewJSONHandler(f.logs, nil)).Info("config", "cfg", cfg)

	out := f.logs.String()
	if strings.Count(out, "webhook delivery") != 8 {
		t.Fatalf("want 8 deliveries logged, got:\n%s", out)
	}
	for _, s := range []string{testSecret, marker, hexHMAC(testSecret, body)} {
		if strings.Contains(out, s) {
			t.Errorf("log contains %q:\n%s", s, out)
		}
	}
	if !strings.Contains(out, redacted) {
		t.Errorf("logged config does not show %s:\n%s", redacted, out)
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no branch", Config{GitHub: NewSecret("s")}, "no branch to track"},
		{"no secret", Config{Branch: "main"}, "no provider has a secret"},
		{"bad whsec_", Config{Branch: "main", Generic: NewSecret("whsec_%%%" + testSecret)}, "not base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: %v, want an error saying %q", err, tt.want)
			}
			if strings.Contains(err.Error(), testSecret) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q shows the secret or spans lines", err)
			}
		})
	}
}

func TestNewServer(t *testing.T) {
	s := NewServer("127.0.0.1:0", http.NotFoundHandler())
	if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.WriteTimeout <= 0 || s.IdleTimeout <= 0 || s.MaxHeaderBytes <= 0 {
		t.Fatalf("server limits not all set: %+v", s)
	}
	// Served for real: a delivery over TCP gets its answer.
	f := newFixture(t, nil)
	srv := httptest.NewUnstartedServer(f.r)
	srv.Config = NewServer("", f.r)
	srv.Start()
	defer srv.Close()
	main := push("refs/heads/main")
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/hooks/github", strings.NewReader(main))
	req.Header = github("push", main)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 202 || !strings.HasPrefix(string(b), "accepted") || !f.fetched() {
		t.Fatalf("delivery over TCP: %d %q, want 202 accepted and a fetch", resp.StatusCode, b)
	}
	if d := f.last(t); d.Remote != "127.0.0.1" {
		t.Errorf("remote recorded as %q, want 127.0.0.1", d.Remote)
	}
}
