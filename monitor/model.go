package monitor

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/celeroot/celeroot/agent"
	"github.com/celeroot/celeroot/queue"
)

// Fetch reads a snapshot of the cluster.
type Fetch func(ctx context.Context) Snapshot

// Model is the bubbletea model of the live view.
type Model struct {
	fetch  Fetch
	every  time.Duration
	snap   Snapshot
	filter Filter
	now    func() time.Time
	width  int
}

// New returns the live view over fetch, refreshing every period.
func New(fetch Fetch, every time.Duration) Model {
	if every <= 0 {
		every = time.Second
	}
	return Model{fetch: fetch, every: every, now: time.Now}
}

type snapMsg Snapshot
type tickMsg struct{}

func (m Model) load() tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return snapMsg(m.fetch(ctx))
	}
}

// Init starts the first read.
func (m Model) Init() tea.Cmd { return m.load() }

// Update handles keys, reads and ticks.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.KeyMsg:
		switch msg.String() {
		case "q", "ctrl+c", "esc":
			return m, tea.Quit
		case "r":
			roles, _ := choices(m.snap.Status)
			m.filter.Role = next(roles, m.filter.Role)
		case "h":
			_, hosts := choices(m.snap.Status)
			m.filter.Host = next(hosts, m.filter.Host)
		case "a":
			m.filter = Filter{}
		}
	case tea.WindowSizeMsg:
		m.width = msg.Width
	case snapMsg:
		s := Snapshot(msg)
		if s.Status == nil && m.snap.Status != nil {
			s.Status, s.Applies = m.snap.Status, m.snap.Applies // keep showing the last good read
		}
		m.snap = s
		return m, tea.Tick(m.every, func(time.Time) tea.Msg { return tickMsg{} })
	case tickMsg:
		return m, m.load()
	}
	return m, nil
}

// next cycles through "" (all) and the choices.
func next(choices []string, cur string) string {
	if cur == "" {
		if len(choices) == 0 {
			return ""
		}
		return choices[0]
	}
	for i, c := range choices {
		if c == cur && i+1 < len(choices) {
			return choices[i+1]
		}
	}
	return ""
}

// View draws the screen, each line cut to the terminal's width.
func (m Model) View() string {
	v := Render(m.snap, m.filter, m.now(), true) + "\n" +
		newStyles().dim.Render("r: next role · h: next host · a: all · q: quit")
	if m.width > 0 {
		v = lipgloss.NewStyle().MaxWidth(m.width).Render(v)
	}
	return v
}

// Filter is the filter the view applies now.
func (m Model) Filter() Filter { return m.filter }

// Run shows the live view on a terminal until q or ctx ends.
func Run(ctx context.Context, fetch Fetch, every time.Duration, f Filter, in io.Reader, out io.Writer) error {
	m := New(fetch, every)
	m.filter = f
	p := tea.NewProgram(m, tea.WithContext(ctx), tea.WithInput(in), tea.WithOutput(out), tea.WithAltScreen())
	_, err := p.Run()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// Plain prints a snapshot as plain text every period until ctx ends (or
// count snapshots were printed, when count > 0): the monitor when stdout is
// not a terminal.
func Plain(ctx context.Context, fetch Fetch, every time.Duration, count int, f Filter, out io.Writer) error {
	for i := 0; count <= 0 || i < count; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(every):
			}
		}
		s := fetch(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if _, err := fmt.Fprintf(out, "--- %s\n%s", time.Now().Format(time.RFC3339), Render(s, f, time.Now(), false)); err != nil {
			return err
		}
	}
	return nil
}

// StatusReader reads the cluster status (*agent.DriftCheck): Status
// probes the hosts, Refresh re-reads only Redis.
type StatusReader interface {
	Status(ctx context.Context, head string) (*agent.ClusterStatus, error)
	Refresh(ctx context.Context, head string, prev *agent.ClusterStatus) (*agent.ClusterStatus, error)
}

// TimingReader reads recorded operation durations (*queue.Queue).
type TimingReader interface {
	OpTimingsOf(ctx context.Context, kind string) ([]queue.Timing, error)
}

// Fetcher reads snapshots: the full status (hosts probed over SSH) every
// probeEvery, and in between only what Redis holds.
func Fetcher(sr StatusReader, tr TimingReader, head string, probeEvery time.Duration) Fetch {
	var mu sync.Mutex
	var last *agent.ClusterStatus
	var probed time.Time
	return func(ctx context.Context) Snapshot {
		mu.Lock()
		defer mu.Unlock()
		var st *agent.ClusterStatus
		var err error
		if last == nil || time.Since(probed) >= probeEvery {
			st, err = sr.Status(ctx, head)
			if err == nil {
				probed = time.Now()
			}
		} else {
			st, err = sr.Refresh(ctx, head, last)
		}
		if err != nil {
			return Snapshot{Status: last, Err: err}
		}
		last = st
		s := Snapshot{Status: st}
		if ts, err := tr.OpTimingsOf(ctx, "apply"); err == nil {
			for _, t := range ts[:min(len(ts), 5)] {
				s.Applies = append(s.Applies, Apply{At: t.At, Took: t.Took, Outcome: t.Outcome})
			}
		}
		return s
	}
}
