package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/agent"
	"github.com/celeroot/celeroot/dispatch"
	"github.com/celeroot/celeroot/drift"
	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/reconcile"
	"github.com/celeroot/celeroot/sync/webhook"
)

// hostile is text a host, a tag or a commit could carry.
const hostile = "<script>alert(1)</script>\"'&\x1b[31mred\x1b[0m\x07"

// fake is a Source with fixed data.
type fake struct {
	fleet   *agent.FleetView
	applies *agent.AppliesView
	tasks   *agent.TasksView
	run     *queue.Run
	lines   []queue.LogLine
	hooks   []webhook.Delivery
}

func (f *fake) Summary(context.Context) agent.StatusDoc {
	return agent.StatusDoc{Repo: "https://example.com/" + hostile, Branch: hostile, Head: strings.Repeat("a", 40)}
}
func (f *fake) Fleet(context.Context) (*agent.FleetView, error) { return f.fleet, nil }
func (f *fake) Host(_ context.Context, name string, _ int) (*agent.HostView, bool, error) {
	for _, h := range f.fleet.Hosts {
		if h.Name == name {
			return &agent.HostView{Host: h, Runs: []dispatch.RunView{dispatch.View(f.run)}}, true, nil
		}
	}
	return nil, false, nil
}
func (f *fake) Applies(context.Context, int) (*agent.AppliesView, error) { return f.applies, nil }
func (f *fake) Tasks(context.Context, int) (*agent.TasksView, error)     { return f.tasks, nil }
func (f *fake) Run(_ context.Context, id string) (*queue.Run, error) {
	if id == f.run.ID {
		return f.run, nil
	}
	return nil, nil
}
func (f *fake) Logs(_ context.Context, _, from string, _ time.Duration) ([]queue.LogLine, string, error) {
	if from != "0" {
		return nil, from, nil
	}
	return f.lines, "9-0", nil
}
func (f *fake) WebhookDeliveries() ([]webhook.Delivery, bool) { return f.hooks, true }

func fleetOf(n int) *agent.FleetView {
	v := &agent.FleetView{Cluster: "prod", Head: strings.Repeat("b", 40), Applied: strings.Repeat("c", 40), ReadAt: time.Now()}
	for i := range n {
		h := agent.FleetHost{Name: fmt.Sprintf("web%03d", i), Role: []string{"web", "db", "batch"}[i%3], Address: fmt.Sprintf("10.0.%d.%d", i/250, i%250),
			Tags: map[string]string{"dc": []string{"ams", "fra"}[i%2], "tier": "gold"}, State: "in-sync",
			Running: strings.Repeat("c", 40), Applied: strings.Repeat("c", 40),
			Worker: &queue.Heartbeat{Host: "x", SHA: strings.Repeat("c", 40), Slots: 4, SlotsBusy: i % 4, Time: time.Now()}}
		if i%7 == 0 {
			h.State, h.Reason = "drifted", "current points to releases/dddddddddddd, applied cccccccccccc"
		}
		v.Hosts = append(v.Hosts, h)
	}
	return v
}

func newFake() *fake {
	f := &fake{fleet: fleetOf(5)}
	f.fleet.Hosts = append(f.fleet.Hosts, agent.FleetHost{Name: hostile, Role: hostile, Tags: map[string]string{hostile: hostile},
		State: "drifted", Reason: hostile, Releases: []string{hostile}, Findings: []drift.Finding{{Kind: "release", Class: drift.ClassDrift, Detail: hostile}}})
	sha := strings.Repeat("e", 40)
	f.applies = &agent.AppliesView{Head: sha, Applied: sha, Commits: map[string]agent.CommitView{sha: {SHA: sha, Subject: hostile, Author: hostile, Signature: "unsigned"}},
		History: []agent.ApplyRecord{{ID: "plan-1", Kind: "apply", SHA: sha, Result: "error", Error: hostile, Bad: true,
			Hosts: map[string]reconcile.HostResult{hostile: {OK: false, Error: hostile}}}}}
	f.run = &queue.Run{ID: "run1", Task: hostile, Target: "host:web000", State: queue.StateSucceeded,
		Params: map[string]any{"db_password": "hunter2", "url": "redis://u:s3cret@h:6379", "note": hostile}}
	f.lines = []queue.LogLine{{ID: "1-0", Stream: "stdout", Text: "hello " + hostile}}
	f.tasks = &agent.TasksView{Status: &dispatch.Status{Running: []dispatch.RunView{}}, Finished: []dispatch.RunView{dispatch.View(f.run)},
		Schedules: []agent.ScheduleView{{Name: hostile, Cron: "* * * * *", Task: hostile, Enabled: true,
			Last: &dispatch.BeatFire{Schedule: hostile, Beat: hostile, Hosts: 1}, Results: []dispatch.RunView{dispatch.View(f.run)}}}}
	f.hooks = []webhook.Delivery{{Provider: "github", ID: hostile, Event: "push", Branch: hostile, Outcome: "ignored", Detail: hostile, Remote: "127.0.0.1"}}
	return f
}

func get(t *testing.T, h http.Handler, method, target string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	r.RemoteAddr = "127.0.0.1:5555"
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "RemoteAddr" {
			r.RemoteAddr = hdr[i+1]
			continue
		}
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestPagesEscapeHostileText: every page renders, with the hostile
// strings escaped and their control characters gone.
func TestPagesEscapeHostileText(t *testing.T) {
	d := New(newFake(), Options{})
	for _, path := range []string{"/ui/", "/ui/hosts/" + pathEscape(hostile), "/ui/applies", "/ui/applies/plan-1",
		"/ui/deliveries", "/ui/tasks", "/ui/runs/run1", "/ui/?state=drifted&role=web&tag=dc%3Dams"} {
		w := get(t, d, "GET", path)
		body := w.Body.String()
		if w.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, w.Code, body)
		}
		if strings.Contains(body, "<script>alert") || strings.Contains(body, "\x1b") || strings.Contains(body, "\x07") {
			t.Errorf("GET %s: hostile text not escaped:\n%s", path, body)
		}
		if !strings.Contains(body, `<script src="/ui/static/app.js" defer></script>`) {
			t.Errorf("GET %s: no app.js", path)
		}
		if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
			t.Errorf("GET %s: CSP %q", path, csp)
		}
	}
	if body := get(t, d, "GET", "/ui/hosts/"+pathEscape(hostile)).Body.String(); !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;&#34;&#39;&amp;red") {
		t.Errorf("host page: hostile name not shown escaped:\n%s", body)
	}
}

// TestRunMasksSecrets: secret-named parameters and URL credentials are
// masked as the CLI masks them.
func TestRunMasksSecrets(t *testing.T) {
	body := get(t, New(newFake(), Options{}), "GET", "/ui/runs/run1").Body.String()
	for _, secret := range []string{"hunter2", "s3cret"} {
		if strings.Contains(body, secret) {
			t.Errorf("run page shows the secret %q", secret)
		}
	}
	if !strings.Contains(body, "db_password=****") || !strings.Contains(body, "redis://u:****@h:6379") {
		t.Errorf("run page: parameters not masked as expected:\n%s", body)
	}
}

// TestReadOnly: anything but GET and HEAD is refused.
func TestReadOnly(t *testing.T) {
	d := New(newFake(), Options{})
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH"} {
		if w := get(t, d, m, "/ui/"); w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s /ui/: %d, Allow %q", m, w.Code, w.Header().Get("Allow"))
		}
	}
	if w := get(t, d, "HEAD", "/ui/"); w.Code != http.StatusOK || w.Body.Len() != 0 {
		t.Errorf("HEAD /ui/: %d with %d bytes", w.Code, w.Body.Len())
	}
}

// TestLoopbackOnlyWithoutToken and TestToken: the access rules.
func TestLoopbackOnlyWithoutToken(t *testing.T) {
	d := New(newFake(), Options{})
	if w := get(t, d, "GET", "/ui/", "RemoteAddr", "192.0.2.7:4000"); w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "--ui-token-file") {
		t.Errorf("remote client without a token: %d %s", w.Code, w.Body)
	}
	if w := get(t, d, "GET", "/ui/", "RemoteAddr", "[::1]:4000"); w.Code != http.StatusOK {
		t.Errorf("::1 client: %d", w.Code)
	}
}

func TestToken(t *testing.T) {
	d := New(newFake(), Options{Token: "s3cr3t-token"})
	remote := []string{"RemoteAddr", "192.0.2.7:4000"}
	if w := get(t, d, "GET", "/ui/", remote...); w.Code != http.StatusUnauthorized {
		t.Errorf("no token: %d", w.Code)
	}
	if w := get(t, d, "GET", "/ui/", append(remote, "Authorization", "Bearer wrong")...); w.Code != http.StatusUnauthorized {
		t.Errorf("wrong token: %d", w.Code)
	}
	if w := get(t, d, "GET", "/ui/", append(remote, "Authorization", "Bearer s3cr3t-token")...); w.Code != http.StatusOK {
		t.Errorf("bearer token: %d", w.Code)
	}
	w := get(t, d, "GET", "/ui/tasks?token=s3cr3t-token", remote...)
	c := w.Result().Cookies()
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/ui/tasks" || len(c) != 1 || !c[0].HttpOnly || c[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("?token=: %d, Location %q, cookies %v", w.Code, w.Header().Get("Location"), c)
	}
	if w := get(t, d, "GET", "/ui/tasks", append(remote, "Cookie", c[0].String())...); w.Code != http.StatusOK {
		t.Errorf("cookie: %d", w.Code)
	}
	if w := get(t, d, "GET", "/ui/?token=nope", remote...); w.Code != http.StatusUnauthorized || len(w.Result().Cookies()) != 0 {
		t.Errorf("wrong ?token=: %d", w.Code)
	}
}

// TestPartialAndNotFound: app.js's partial answer is the live part only;
// unknown hosts, runs and applies are 404 with a hint.
func TestPartialAndNotFound(t *testing.T) {
	d := New(newFake(), Options{})
	w := get(t, d, "GET", "/ui/", "X-CL-Partial", "1")
	if strings.Contains(w.Body.String(), "<html") || !strings.Contains(w.Body.String(), "web000") {
		t.Errorf("partial fleet: %s", w.Body)
	}
	for _, p := range []string{"/ui/hosts/nope", "/ui/runs/nope", "/ui/applies/nope"} {
		if w := get(t, d, "GET", p); w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "Problem:") {
			t.Errorf("GET %s: %d", p, w.Code)
		}
	}
}

// TestFleetFilterAndPages: filters by role, tag and state; pages.
func TestFleetFilterAndPages(t *testing.T) {
	v := fleetOf(30)
	q := func(s string) map[string][]string {
		m := map[string][]string{}
		for _, kv := range strings.Split(s, "&") {
			k, val, _ := strings.Cut(kv, "=")
			m[k] = []string{val}
		}
		return m
	}
	if f := filterFleet(v, q("role=db"), 500); f.Matched != 10 {
		t.Errorf("role=db: %d hosts", f.Matched)
	}
	if f := filterFleet(v, q("tag=dc=fra&state=drifted"), 500); f.Matched != 2 { // 7, 21
		t.Errorf("tag dc=fra, drifted: %d hosts", f.Matched)
	}
	if f := filterFleet(v, q("tag=nope"), 500); f.Matched != 0 {
		t.Errorf("tag nope: %d hosts", f.Matched)
	}
	f := filterFleet(v, q("page=2"), 12)
	if f.Pages != 3 || len(f.Shown) != 12 || f.Shown[0].Name != "web012" || f.PrevURL != "/ui/?page=1" || f.NextURL != "/ui/?page=3" {
		t.Errorf("page 2 of 12: pages %d, shown %d from %s, prev %q next %q", f.Pages, len(f.Shown), f.Shown[0].Name, f.PrevURL, f.NextURL)
	}
}

// TestRunLogStream: the log as server-sent events, cleaned, then the end.
func TestRunLogStream(t *testing.T) {
	w := get(t, New(newFake(), Options{}), "GET", "/ui/runs/run1/log")
	body := w.Body.String()
	if w.Header().Get("Content-Type") != "text/event-stream" {
		t.Fatalf("content type %q", w.Header().Get("Content-Type"))
	}
	want := "id: 1-0\nevent: line\ndata: stdout\thello <script>alert(1)</script>\"'&red\uFFFD\n\n"
	if !strings.Contains(body, want) || !strings.Contains(body, "event: end\ndata: succeeded exit 0\n\n") {
		t.Errorf("stream:\n%q", body)
	}
}

func TestClean(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                 "plain",
		"\x1b[1;31mred\x1b[0m":  "red",
		"a\nb\rc\td":            "a\uFFFDb\uFFFDc\td",
		"\x1b]0;title\x07after": "after",
		"bad \xff utf8":         "bad \uFFFD utf8",
		"\u009b31m c1 control":  "\uFFFD31m c1 control",
	} {
		if got := clean(in); got != want {
			t.Errorf("clean(%q) = %q, want %q", in, got, want)
		}
	}
}

// BenchmarkFleetPage500 renders the fleet page of 500 hosts (the whole
// request: filters, template, security headers) and reports its size.
func BenchmarkFleetPage500(b *testing.B) {
	f := newFake()
	f.fleet = fleetOf(500)
	d := New(f, Options{})
	r := httptest.NewRequest("GET", "/ui/", nil)
	r.RemoteAddr = "127.0.0.1:1"
	var size int
	for b.Loop() {
		w := httptest.NewRecorder()
		d.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
		size = w.Body.Len()
	}
	b.ReportMetric(float64(size)/1024, "KB/page")
}
