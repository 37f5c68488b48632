package monitor

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"

	"github.com/celeroot/celeroot/agent"
	"github.com/celeroot/celeroot/observe"
	"github.com/celeroot/celeroot/termtext"
)

// Snapshot is what one refresh shows.
type Snapshot struct {
	Status  *agent.ClusterStatus
	Applies []Apply // the recent applies, newest first
	Err     error   // the last refresh's error (the previous data stays shown)
}

// Apply is one recorded apply.
type Apply struct {
	At      time.Time
	Took    time.Duration
	Outcome string
}

// Filter selects hosts (and their workers and tasks); empty: all.
type Filter struct {
	Role string
	Host string
}

func (f Filter) host(role, host string) bool {
	return (f.Role == "" || role == f.Role) && (f.Host == "" || host == f.Host)
}

// String describes the filter.
func (f Filter) String() string {
	var p []string
	if f.Role != "" {
		p = append(p, "role="+f.Role)
	}
	if f.Host != "" {
		p = append(p, "host="+f.Host)
	}
	if len(p) == 0 {
		return "all hosts"
	}
	return strings.Join(p, " ")
}

// styles; the zero value renders plain text.
type styles struct {
	title, head, bad, good, dim lipgloss.Style
}

func newStyles() styles {
	return styles{
		title: lipgloss.NewStyle().Bold(true),
		head:  lipgloss.NewStyle().Bold(true).Underline(true),
		bad:   lipgloss.NewStyle().Foreground(lipgloss.Color("9")).Bold(true),
		good:  lipgloss.NewStyle().Foreground(lipgloss.Color("10")),
		dim:   lipgloss.NewStyle().Faint(true),
	}
}

// Column caps, in terminal cells: longer names and details are truncated
// (with an ellipsis) so that one hostile or long value cannot push the
// other columns off the screen.
const (
	nameCells   = 32
	detailCells = 60
)

// Render draws a snapshot as text; styled adds colours. Every string read
// from hosts or Redis is cleaned (termtext.Line) and columns are aligned by
// display width.
func Render(s Snapshot, f Filter, now time.Time, styled bool) string {
	st := styles{}
	if styled {
		st = newStyles()
	}
	var b strings.Builder
	line := func(style lipgloss.Style, text string) { b.WriteString(style.Render(termtext.Line(text)) + "\n") }
	cs := s.Status
	if cs == nil {
		b.WriteString("reading the cluster…\n")
		if s.Err != nil {
			line(st.bad, "error: "+s.Err.Error())
		}
		return b.String()
	}
	b.WriteString(st.title.Render(termtext.Line(cs.Summary())) + "  " + st.dim.Render(cs.ReadAt.Format("15:04:05")+" · "+termtext.Line(f.String())) + "\n")
	if s.Err != nil {
		line(st.bad, "refresh failed: "+clip(s.Err.Error(), 2*detailCells))
	}
	hosts := newGrid(nameCells, nameCells, 0, 0, 0, 0, detailCells)
	hosts.row("HOST", "ROLE", "UP", "STATE", "WORKER", "SLOTS", "DETAIL")
	for _, h := range cs.Hosts {
		if !f.host(h.Role, h.Host) {
			continue
		}
		up, worker, upStyle := "up", "stopped", st.good
		if !h.Up {
			up, worker, upStyle = "DOWN", "?", st.bad
		} else if h.Running {
			worker = short(h.Worker)
		}
		state, stateStyle := string(h.State), lipgloss.Style{}
		if state == "drifted" {
			stateStyle = st.bad
		}
		hosts.row(h.Host, h.Role, up, state, worker, fmt.Sprintf("%d/%d", h.Busy, h.Slots), firstLine(h.Reason))
		hosts.style(2, upStyle)
		hosts.style(3, stateStyle)
	}
	hosts.write(&b, st, "HOSTS")
	if t := cs.Tasks; t != nil {
		workers := newGrid(nameCells, nameCells)
		workers.row("HOST", "ROLE", "RELEASE", "SLOTS", "PROCESSED", "FAILED", "SEEN")
		for _, w := range t.Workers {
			if f.host(w.Role, w.Host) {
				workers.row(w.Host, w.Role, short(w.SHA), fmt.Sprintf("%d/%d", w.SlotsBusy, w.Slots),
					fmt.Sprint(w.Processed), fmt.Sprint(w.Failed), now.Sub(w.Time).Round(time.Second).String()+" ago")
			}
		}
		workers.write(&b, st, "WORKERS")
		queues := newGrid(nameCells + 8)
		queues.row("QUEUE", "SIZE", "WAITING", "PENDING", "RUNNING", "DELAYED")
		for _, q := range t.Queues {
			queues.row(q.Queue, fmt.Sprint(observe.QueueSize(q)), fmt.Sprint(q.Waiting), fmt.Sprint(q.Pending), fmt.Sprint(q.Running), fmt.Sprint(q.Delayed))
		}
		queues.write(&b, st, "QUEUES")
		running := newGrid(0, nameCells, nameCells)
		for _, r := range t.Running {
			if f.Host != "" && r.Host != f.Host {
				continue
			}
			running.row(r.ID, r.Task, "on "+r.Host, "for "+now.Sub(r.StartedAt).Round(time.Second).String())
		}
		running.write(&b, st, fmt.Sprintf("RUNNING TASKS (%d)", len(t.Running)))
	}
	b.WriteString("\n")
	if cs.Beat != nil {
		line(lipgloss.Style{}, fmt.Sprintf("beat leader: %s (since %s)", cs.Beat.Holder, cs.Beat.Since.Format(time.RFC3339)))
	} else {
		b.WriteString("beat leader: " + st.bad.Render("none") + "\n")
	}
	if cs.Agent != nil {
		line(lipgloss.Style{}, fmt.Sprintf("agent: %s (since %s)", cs.Agent.Holder, cs.Agent.Since.Format(time.RFC3339)))
	} else {
		b.WriteString("agent: none leading\n")
	}
	if la := cs.Apply; la != nil {
		switch la.Result {
		case "none":
			b.WriteString("last apply: never applied\n")
		case "failed":
			line(st.bad, fmt.Sprintf("last apply: FAILED %s at %s: %s", short(la.Failed), la.FailedAt.Format(time.RFC3339), clip(la.Error, 80)))
		default:
			line(lipgloss.Style{}, fmt.Sprintf("last apply: ok %s at %s (generation %d)", short(la.SHA), la.At.Format(time.RFC3339), la.Generation))
		}
	}
	if len(s.Applies) > 0 {
		b.WriteString("recent applies:")
		for _, a := range s.Applies[:min(5, len(s.Applies))] {
			fmt.Fprintf(&b, " %s %s (%s);", a.At.Format("15:04:05"), termtext.Line(a.Outcome), a.Took.Round(time.Millisecond))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// grid is a section's table: cells cleaned, columns aligned by display
// width and capped (caps by column, 0: none), some cells styled.
type grid struct {
	t      termtext.Table
	styles map[[2]int]lipgloss.Style
}

func newGrid(caps ...int) *grid {
	g := &grid{styles: map[[2]int]lipgloss.Style{}}
	g.t.MaxWidth = caps
	g.t.Style = func(row, col int, padded string) string {
		if s, ok := g.styles[[2]int{row, col}]; ok {
			return s.Render(padded)
		}
		return padded
	}
	return g
}

func (g *grid) row(cells ...string) { g.t.Row(cells...) }

// style styles a cell of the last row.
func (g *grid) style(col int, s lipgloss.Style) { g.styles[[2]int{g.t.Len() - 1, col}] = s }

func (g *grid) write(b *strings.Builder, st styles, title string) {
	b.WriteString("\n" + st.head.Render(title) + "\n")
	_, _ = g.t.WriteTo(b)
}

func short(sha string) string {
	if len(sha) > 10 {
		return sha[:10]
	}
	if sha == "" {
		return "-"
	}
	return sha
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// clip is the first line of s, cleaned and cut to n cells.
func clip(s string, n int) string {
	return termtext.Truncate(termtext.Line(firstLine(s)), n)
}

// roles and hosts of a status, sorted, for the filter keys.
func choices(cs *agent.ClusterStatus) (roles, hosts []string) {
	if cs == nil {
		return nil, nil
	}
	for _, h := range cs.Hosts {
		if h.Role != "" && !slices.Contains(roles, h.Role) {
			roles = append(roles, h.Role)
		}
		hosts = append(hosts, h.Host)
	}
	slices.Sort(roles)
	slices.Sort(hosts)
	return roles, hosts
}
