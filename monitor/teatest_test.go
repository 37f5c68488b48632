package monitor

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/teatest"

	"github.com/celeroot/celeroot/agent"
	"github.com/celeroot/celeroot/dispatch"
	"github.com/celeroot/celeroot/drift"
	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/termtext"
)

// fleet is a snapshot of two roles, three hosts and their workers.
func fleet() Snapshot {
	now := time.Now()
	return Snapshot{Status: &agent.ClusterStatus{Cluster: "shop", Up: 3, ReadAt: now,
		Hosts: []agent.HostStatus{
			{Host: "web1", Role: "web", Up: true, Running: true, State: drift.StateInSync, Worker: "abcdef1234567", Slots: 2},
			{Host: "web2", Role: "web", Up: true, Running: true, State: drift.StateInSync, Worker: "abcdef1234567", Slots: 2},
			{Host: "db1", Role: "db", Up: true, Running: true, State: drift.StateDrifted, Worker: "abcdef1234567", Slots: 1, Reason: "worker config changed"},
		},
		Tasks: &dispatch.Status{
			Workers: []queue.Heartbeat{{Host: "web1", Role: "web", Time: now}, {Host: "web2", Role: "web", Time: now}, {Host: "db1", Role: "db", Time: now}},
			Queues:  []queue.QueueStats{{Queue: "role:web", Waiting: 3}, {Queue: "role:db"}},
		},
		Apply: &agent.LastApply{Result: "none"},
	}}
}

// waitScreen waits until the program has drawn every want.
func waitScreen(t *testing.T, tm *teatest.TestModel, want ...string) {
	t.Helper()
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
		for _, w := range want {
			if !bytes.Contains(b, []byte(w)) {
				return false
			}
		}
		return true
	}, teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(10*time.Millisecond))
}

// TestTeaFilterKeys drives the live view as a terminal would (teatest): it
// draws every host, r cycles the roles (db, web, all), h the hosts, a shows
// all again and q quits; each filter shows only its hosts.
func TestTeaFilterKeys(t *testing.T) {
	fetches := 0
	fetch := func(context.Context) Snapshot { fetches++; return fleet() }
	tm := teatest.NewTestModel(t, New(fetch, time.Hour), teatest.WithInitialTermSize(120, 40))
	waitScreen(t, tm, "web1", "web2", "db1", "role:web", "all hosts")

	tm.Type("r")
	waitScreen(t, tm, "role=db")
	tm.Type("r")
	waitScreen(t, tm, "role=web")
	tm.Type("h") // hosts cycle in name order: db1 first
	waitScreen(t, tm, "role=web host=db1")
	tm.Type("q")
	m := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(Model)
	if f := m.Filter(); f != (Filter{Role: "web", Host: "db1"}) {
		t.Errorf("filter after r r h: %+v", f)
	}
	if v := plainView(m); hostRow(v, "web1") || hostRow(v, "web2") || hostRow(v, "db1") || !strings.Contains(v, "HOSTS") {
		t.Errorf("role web and host db1 select nothing, the view shows:\n%s", v)
	}
	if fetches != 1 {
		t.Errorf("%d fetches, want 1 (the refresh period is an hour)", fetches)
	}
}

func TestTeaRoleAndAll(t *testing.T) {
	tm := teatest.NewTestModel(t, New(func(context.Context) Snapshot { return fleet() }, time.Hour), teatest.WithInitialTermSize(120, 40))
	waitScreen(t, tm, "db1")
	tm.Type("rr") // web
	waitScreen(t, tm, "role=web")
	m := modelAfter(t, tm, "q")
	v := plainView(m)
	if !strings.Contains(v, "web1") || !strings.Contains(v, "web2") || hostRow(v, "db1") {
		t.Errorf("role web:\n%s", v)
	}

	tm = teatest.NewTestModel(t, New(func(context.Context) Snapshot { return fleet() }, time.Hour), teatest.WithInitialTermSize(120, 40))
	waitScreen(t, tm, "db1")
	tm.Type("hh") // web1
	waitScreen(t, tm, "host=web1")
	tm.Type("a")
	waitScreen(t, tm, "all hosts")
	m = modelAfter(t, tm, "q")
	if v := plainView(m); m.Filter() != (Filter{}) || !hostRow(v, "db1") || !hostRow(v, "web2") {
		t.Errorf("after a: %+v\n%s", m.Filter(), v)
	}
}

func modelAfter(t *testing.T, tm *teatest.TestModel, keys string) Model {
	t.Helper()
	tm.Type(keys)
	return tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(Model)
}

var sgr = regexp.MustCompile(`\x1b\[[0-9;]*m`)

// plainView is the model's view without its colours.
func plainView(m Model) string { return sgr.ReplaceAllString(m.View(), "") }

// hostRow reports whether the HOSTS section has a row for host.
func hostRow(view, host string) bool {
	in := false
	for _, l := range strings.Split(view, "\n") {
		l = strings.TrimRight(l, " ")
		switch {
		case l == "HOSTS":
			in = true
		case in && l == "":
			return false
		case in && strings.HasPrefix(l, host+" "):
			return true
		}
	}
	return false
}

// TestTeaWindowWidth: on a narrow terminal no line is wider than it.
func TestTeaWindowWidth(t *testing.T) {
	var m tea.Model = New(func(context.Context) Snapshot { return fleet() }, time.Hour)
	m, _ = m.Update(snapMsg(fleet()))
	m, _ = m.Update(tea.WindowSizeMsg{Width: 30, Height: 20})
	for _, l := range strings.Split(sgr.ReplaceAllString(m.View(), ""), "\n") {
		if w := termtext.Width(l); w > 30 {
			t.Errorf("line %d cells wide on a 30-cell terminal: %q", w, l)
		}
	}
}

// hostile is a snapshot whose names and details came from hostile hosts
// and a hostile Redis.
func hostile() Snapshot {
	s := fleet()
	cs := s.Status
	cs.Hosts = []agent.HostStatus{
		{Host: "web1", Role: "web", Up: true, Running: true, State: drift.StateInSync, Worker: "abc", Slots: 2},
		{Host: "日本語のホスト", Role: "ウェブ", Up: true, State: drift.StateInSync, Slots: 1},
		{Host: "evil\x1b[2J\x1b[H", Role: "web", Up: false, State: drift.StateUnknown, Reason: "refused\r\x1b]0;pwned\x07 \u202eftp.exe"},
		{Host: "a-very-long-host-name-that-goes-on-and-on-and-on.example.com", Role: "web", Up: true, State: drift.StateDrifted},
	}
	cs.Tasks.Workers = []queue.Heartbeat{{Host: "evil\x1b]52;c;aGk=\x07", Role: "web\u009b2J", SHA: "\x1b[31mred", Time: time.Now()}}
	cs.Tasks.Queues = []queue.QueueStats{{Queue: "role:\x1b[5mblink", Waiting: 1}}
	cs.Tasks.Running = []dispatch.RunView{{Host: "web1", Run: &queue.Run{ID: "r1\r", Task: "t\x1b[8m"}}}
	cs.Beat = &queue.LeaseInfo{Holder: "beat\x1b]0;x\x07"}
	cs.Apply = &agent.LastApply{Result: "failed", Failed: "0123456789abcdef", Error: "boom\x1b[2J\nsecond line"}
	return s
}

// TestRenderHostileText: nothing read from a host or Redis reaches the
// terminal as a control sequence, plain or styled; it is shown escaped.
func TestRenderHostileText(t *testing.T) {
	for _, styled := range []bool{false, true} {
		out := Render(hostile(), Filter{}, time.Now(), styled)
		plain := sgr.ReplaceAllString(out, "") // the view's own colours
		if strings.ContainsAny(plain, "\x1b\x07\r\u009b\u202e") {
			t.Errorf("styled=%v: a control character reached the output:\n%q", styled, plain)
		}
		for _, want := range []string{`evil\x1b[2J\x1b[H`, `refused\x0d\x1b]0;pwned\x07 \u202eftp.exe`, `evil\x1b]52;c;aGk=\x07`,
			`role:\x1b[5mblink`, `beat\x1b]0;x\x07`, `boom\x1b[2J`} {
			if !strings.Contains(plain, want) {
				t.Errorf("styled=%v: output lacks %s:\n%s", styled, want, plain)
			}
		}
		if strings.Contains(plain, "second line") {
			t.Errorf("styled=%v: a multi-line error spans lines:\n%s", styled, plain)
		}
	}
}

// TestRenderAlignsWideNames: the HOSTS columns start at the same cell on
// every row, with wide (CJK), escaped and long names; long names are cut.
func TestRenderAlignsWideNames(t *testing.T) {
	for _, styled := range []bool{false, true} {
		out := sgr.ReplaceAllString(Render(hostile(), Filter{}, time.Now(), styled), "")
		_, hosts, _ := strings.Cut(out, "HOSTS\n")
		hosts, _, _ = strings.Cut(hosts, "\n\n")
		rows := strings.Split(hosts, "\n")
		if len(rows) != 5 {
			t.Fatalf("styled=%v: %d rows in HOSTS:\n%s", styled, len(rows), hosts)
		}
		// The UP column: its cell holds "UP", "up" or "DOWN".
		col := -1
		for _, r := range rows {
			i := strings.Index(r, "  up  ")
			if i < 0 {
				i = strings.Index(r, "  UP  ")
			}
			if i < 0 {
				i = strings.Index(r, "  DOWN  ")
			}
			if i < 0 {
				t.Fatalf("styled=%v: no UP cell in %q", styled, r)
			}
			c := termtext.Width(r[:i])
			if col < 0 {
				col = c
			} else if c != col {
				t.Errorf("styled=%v: UP column at cell %d, want %d:\n%s", styled, c, col, hosts)
			}
		}
		if strings.Contains(out, "and-on.example.com") || !strings.Contains(out, "a-very-long-host-name-that-goes…") {
			t.Errorf("styled=%v: the long host name is not cut to %d cells:\n%s", styled, nameCells, hosts)
		}
	}
}

// TestPlainIsNotStyled: the periodic text of a pipe has no escape at all.
func TestPlainIsNotStyled(t *testing.T) {
	var out bytes.Buffer
	if err := Plain(context.Background(), func(context.Context) Snapshot { return hostile() }, time.Millisecond, 1, Filter{}, io.Writer(&out)); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(out.String(), "\x1b\x07\r") || !strings.Contains(out.String(), "日本語のホスト") {
		t.Errorf("plain output:\n%q", out.String())
	}
}
