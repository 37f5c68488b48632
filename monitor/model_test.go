package monitor

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/celeroot/celeroot/agent"
	"github.com/celeroot/celeroot/dispatch"
	"github.com/celeroot/celeroot/drift"
	"github.com/celeroot/celeroot/queue"
)

func snapshot() Snapshot {
	return Snapshot{Status: &agent.ClusterStatus{Cluster: "shop", Up: 1, Down: 1, ReadAt: time.Now(),
		Hosts: []agent.HostStatus{
			{Host: "web1", Role: "web", Up: true, Running: true, State: drift.StateInSync, Worker: "abcdef1234567", Slots: 4},
			{Host: "db1", Role: "db", Up: false, State: drift.StateUnknown, Reason: "not observed: connection refused"},
		},
		Tasks: &dispatch.Status{Queues: []queue.QueueStats{{Queue: "role:web", Waiting: 7}}},
		Apply: &agent.LastApply{Result: "none"},
	}}
}

func TestKeysFilterAndQuit(t *testing.T) {
	fetch := func(context.Context) Snapshot { return snapshot() }
	var m tea.Model = New(fetch, time.Second)
	m, _ = m.Update(snapMsg(snapshot()))
	v := m.View()
	if !strings.Contains(v, "web1") || !strings.Contains(v, "db1") || !strings.Contains(v, "role:web") {
		t.Fatalf("view lacks hosts or queues:\n%s", v)
	}
	m, _ = m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("r")}) // role db
	if v := m.View(); strings.Contains(v, "web1") || !strings.Contains(v, "db1") || !strings.Contains(v, "role=db") {
		t.Errorf("after r:\n%s", v)
	}
	m, _ = m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("a")})
	if v := m.View(); !strings.Contains(v, "web1") {
		t.Errorf("after a:\n%s", v)
	}
	_, cmd := m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("q")})
	if cmd == nil {
		t.Fatal("q gives no command")
	}
	if _, ok := cmd().(tea.QuitMsg); !ok {
		t.Error("q does not quit")
	}
}

func TestPlainPrintsSnapshots(t *testing.T) {
	var out bytes.Buffer
	n := 0
	fetch := func(context.Context) Snapshot { n++; return snapshot() }
	if err := Plain(context.Background(), fetch, 10*time.Millisecond, 2, Filter{Host: "db1"}, &out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if n != 2 || strings.Count(s, "--- ") != 2 || strings.Contains(s, "web1") || !strings.Contains(s, "DOWN") || strings.Contains(s, "\x1b[") {
		t.Errorf("plain output (%d fetches):\n%s", n, s)
	}
}
