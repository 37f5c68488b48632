package alert

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/observe"
	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/queue/queuetest"
)

// mailbox is an SMTP server the test starts (emersion/go-smtp) and the
// mails it received.
type mailbox struct {
	mu    sync.Mutex
	mails []string
	addr  string
}

func (b *mailbox) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{b: b}, nil }

type session struct {
	b        *mailbox
	from, to string
}

func (s *session) Reset()        {}
func (s *session) Logout() error { return nil }
func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = to
	return nil
}
func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.b.mu.Lock()
	s.b.mails = append(s.b.mails, "to="+s.to+"\n"+string(data))
	s.b.mu.Unlock()
	return nil
}

func (b *mailbox) all() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.mails...)
}

func startMailbox(t *testing.T) *mailbox {
	t.Helper()
	b := &mailbox{}
	srv := smtp.NewServer(b)
	srv.Domain = "localhost"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b.addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return b
}

// slackHook is a local Slack incoming-webhook receiver.
type slackHook struct {
	mu   sync.Mutex
	msgs []map[string]string
	srv  *httptest.Server
}

func startSlack(t *testing.T) *slackHook {
	h := &slackHook{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]string
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil || r.URL.Path != "/services/T0/B0/secret" {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.msgs = append(h.msgs, m)
		h.mu.Unlock()
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *slackHook) all() []map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]map[string]string(nil), h.msgs...)
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A queue passes its threshold: one alert to each receiver however often
// it is evaluated, then one resolved message once the queue drained. A
// dead channel beside them changes nothing and blocks nothing.
func TestQueueThresholdAlertsOnceThenResolves(t *testing.T) {
	ctx := context.Background()
	q := queuetest.Opener(queuetest.StartRedis(t).URL())(t)
	mail, slack := startMailbox(t), startSlack(t)
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close() // nothing listens there now

	mon := config.Monitoring{
		AlertChannels:   []config.AlertChannel{{Email: "ops@example.com"}, {Slack: "#alerts"}, {Webhook: "http://" + deadAddr + "/hook"}},
		Metrics:         []config.Metric{{Name: "queue_size", Threshold: 3}},
		SMTP:            config.SMTP{Address: mail.addr, From: "cl@example.com"},
		SlackWebhookURL: slack.srv.URL + "/services/T0/B0/secret",
	}
	chs, skipped := Channels(mon, nil, nil)
	if len(chs) != 3 || len(skipped) != 0 {
		t.Fatalf("channels %d, skipped %v", len(chs), skipped)
	}
	m := NewManager(chs, Options{Cluster: "shop", Cooldown: time.Hour, Backoff: 10 * time.Millisecond, Attempts: 3, Timeout: time.Second})
	defer m.Close()
	target := queue.RoleQueue("web")
	evaluate := func() {
		t.Helper()
		met, err := observe.Collect(ctx, q, []string{target})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		m.Observe(Evaluate(mon.Metrics, Facts{Metrics: met}))
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Errorf("Observe took %s: it must not wait for channels", d)
		}
	}
	for range 3 {
		if _, _, err := q.Enqueue(ctx, &queue.Run{Task: "app.report", Target: target}, ""); err != nil {
			t.Fatal(err)
		}
	}
	evaluate() // 3 tasks: not above 3
	if _, _, err := q.Enqueue(ctx, &queue.Run{Task: "app.report", Target: target}, ""); err != nil {
		t.Fatal(err)
	}
	evaluate()
	evaluate() // still firing, within the cool-down: nothing new
	waitFor(t, "the firing alert by mail and Slack", func() bool { return len(mail.all()) == 1 && len(slack.all()) == 1 })

	ds, err := q.Claim(ctx, "web1", []string{target}, 10, time.Second)
	if err != nil || len(ds) != 4 {
		t.Fatalf("claim: %d %v", len(ds), err)
	}
	for _, d := range ds {
		if _, err := q.Complete(ctx, d, queue.Result{}); err != nil {
			t.Fatal(err)
		}
	}
	evaluate()
	evaluate()
	waitFor(t, "the resolved message", func() bool { return len(mail.all()) == 2 && len(slack.all()) == 2 })
	waitFor(t, "the dead channel to give up", func() bool {
		for _, s := range m.Stats() {
			if strings.HasPrefix(s.Channel, "webhook:") && s.Failed == 2 {
				return true
			}
		}
		return false
	})
	time.Sleep(100 * time.Millisecond) // nothing more arrives
	mails, msgs := mail.all(), slack.all()
	if len(mails) != 2 || len(msgs) != 2 {
		t.Fatalf("mails %d, slack %d: want 2 each", len(mails), len(msgs))
	}
	if !strings.Contains(mails[0], "to=ops@example.com") || !strings.Contains(mails[0], "Subject: [celeroot shop] FIRING: queue role:web holds 4 tasks, above 3") ||
		!strings.Contains(mails[1], "Subject: [celeroot shop] RESOLVED: queue role:web") {
		t.Errorf("mails:\n%s\n---\n%s", mails[0], mails[1])
	}
	if msgs[0]["channel"] != "#alerts" || !strings.Contains(msgs[0]["text"], "FIRING: queue role:web holds 4 tasks") ||
		!strings.Contains(msgs[1]["text"], "RESOLVED: queue role:web") {
		t.Errorf("slack: %v", msgs)
	}
	for _, s := range m.Stats() {
		switch {
		case strings.HasPrefix(s.Channel, "webhook:"):
			if s.Sent != 0 || s.Errors != 6 || s.LastError == "" || strings.Contains(s.LastError, "/hook") {
				t.Errorf("dead channel stats %+v (its URL path must stay masked)", s)
			}
		default:
			if s.Sent != 2 || s.Failed != 0 {
				t.Errorf("%s: %+v", s.Channel, s)
			}
		}
	}
}

func TestCooldownRepeatsAndBuiltinConditions(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	got := []Notice{}
	var mu sync.Mutex
	ch := funcChannel(func(n Notice) { mu.Lock(); got = append(got, n); mu.Unlock() })
	m := NewManager([]Channel{ch}, Options{Cluster: "c", Cooldown: 10 * time.Minute, Now: func() time.Time { return now }})
	defer m.Close()
	f := Facts{Unreachable: []string{"web2"}, Drifted: []string{"db1"}, ApplyFailed: "deploy web1: health check\nmore", ApplySHA: strings.Repeat("a", 40)}
	conds := Evaluate(nil, f)
	keys := []string{}
	for _, c := range conds {
		keys = append(keys, c.Key)
	}
	if strings.Join(keys, " ") != "host_down:web2 drift:db1 apply_failed" {
		t.Fatalf("built-in conditions: %v", keys)
	}
	m.Observe(conds)
	now = now.Add(5 * time.Minute)
	m.Observe(conds) // within the cool-down
	now = now.Add(6 * time.Minute)
	m.Observe(conds[:1]) // past it: host_down again; the others resolved
	waitFor(t, "6 notices", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 6 })
	mu.Lock()
	defer mu.Unlock()
	var resolved []string
	for _, n := range got[3:] {
		if n.Resolved {
			resolved = append(resolved, n.Key)
		} else if n.Key != "host_down:web2" {
			t.Errorf("repeated %s", n.Key)
		}
	}
	if strings.Join(resolved, " ") != "apply_failed drift:db1" {
		t.Errorf("resolved %v", resolved)
	}
}

type funcChannel func(Notice)

func (f funcChannel) Name() string                           { return "func" }
func (f funcChannel) Send(_ context.Context, n Notice) error { f(n); return nil }
