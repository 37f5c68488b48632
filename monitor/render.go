package monitor

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/charmbracelet/lipgloss"

	"github.com/celeroot/celeroot/agent"
	"github.com/celeroot/celeroot/observe"
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

// Render draws a snapshot as text; styled adds colours.
func Render(s Snapshot, f Filter, now time.Time, styled bool) string {
	st := styles{}
	if styled {
		st = newStyles()
	}
	var b strings.Builder
	cs := s.Status
	if cs == nil {
		b.WriteString("reading the cluster…\n")
		if s.Err != nil {
			b.WriteString(st.bad.Render("error: "+s.Err.Error()) + "\n")
		}
		return b.String()
	}
	b.WriteString(st.title.Render(cs.Summary()) + "  " + st.dim.Render(cs.ReadAt.Format("15:04:05")+" · "+f.String()) + "\n")
	if s.Err != nil {
		b.WriteString(st.bad.Render("refresh failed: "+s.Err.Error()) + "\n")
	}
	section(&b, st, "HOSTS", func(tw *tabwriter.Writer) {
		fmt.Fprintln(tw, "HOST\tROLE\tUP\tSTATE\tWORKER\tSLOTS\tDETAIL")
		for _, h := range cs.Hosts {
			if !f.host(h.Role, h.Host) {
				continue
			}
			up, worker := st.good.Render("up"), "stopped"
			if !h.Up {
				up, worker = st.bad.Render("DOWN"), "?"
			} else if h.Running {
				worker = short(h.Worker)
			}
			state := string(h.State)
			if state == "drifted" {
				state = st.bad.Render(state)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d/%d\t%s\n", h.Host, h.Role, up, state, worker, h.Busy, h.Slots, clip(h.Reason, 60))
		}
	})
	if t := cs.Tasks; t != nil {
		section(&b, st, "WORKERS", func(tw *tabwriter.Writer) {
			fmt.Fprintln(tw, "HOST\tROLE\tRELEASE\tSLOTS\tPROCESSED\tFAILED\tSEEN")
			for _, w := range t.Workers {
				if f.host(w.Role, w.Host) {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%d\t%d\t%s ago\n", w.Host, w.Role, short(w.SHA), w.SlotsBusy, w.Slots,
						w.Processed, w.Failed, now.Sub(w.Time).Round(time.Second))
				}
			}
		})
		section(&b, st, "QUEUES", func(tw *tabwriter.Writer) {
			fmt.Fprintln(tw, "QUEUE\tSIZE\tWAITING\tPENDING\tRUNNING\tDELAYED")
			for _, q := range t.Queues {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\n", q.Queue, observe.QueueSize(q), q.Waiting, q.Pending, q.Running, q.Delayed)
			}
		})
		section(&b, st, fmt.Sprintf("RUNNING TASKS (%d)", len(t.Running)), func(tw *tabwriter.Writer) {
			for _, r := range t.Running {
				if f.Host != "" && r.Host != f.Host {
					continue
				}
				fmt.Fprintf(tw, "%s\t%s\ton %s\tfor %s\n", r.ID, r.Task, r.Host, now.Sub(r.StartedAt).Round(time.Second))
			}
		})
	}
	b.WriteString("\n")
	if cs.Beat != nil {
		fmt.Fprintf(&b, "beat leader: %s (since %s)\n", cs.Beat.Holder, cs.Beat.Since.Format(time.RFC3339))
	} else {
		b.WriteString("beat leader: " + st.bad.Render("none") + "\n")
	}
	if cs.Agent != nil {
		fmt.Fprintf(&b, "agent: %s (since %s)\n", cs.Agent.Holder, cs.Agent.Since.Format(time.RFC3339))
	} else {
		b.WriteString("agent: none leading\n")
	}
	if la := cs.Apply; la != nil {
		switch la.Result {
		case "none":
			b.WriteString("last apply: never applied\n")
		case "failed":
			b.WriteString(st.bad.Render(fmt.Sprintf("last apply: FAILED %s at %s: %s", short(la.Failed), la.FailedAt.Format(time.RFC3339), clip(la.Error, 80))) + "\n")
		default:
			fmt.Fprintf(&b, "last apply: ok %s at %s (generation %d)\n", short(la.SHA), la.At.Format(time.RFC3339), la.Generation)
		}
	}
	if len(s.Applies) > 0 {
		b.WriteString("recent applies:")
		for _, a := range s.Applies[:min(5, len(s.Applies))] {
			fmt.Fprintf(&b, " %s %s (%s);", a.At.Format("15:04:05"), a.Outcome, a.Took.Round(time.Millisecond))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func section(b *strings.Builder, st styles, title string, body func(tw *tabwriter.Writer)) {
	b.WriteString("\n" + st.head.Render(title) + "\n")
	tw := tabwriter.NewWriter(b, 0, 4, 2, ' ', 0)
	body(tw)
	_ = tw.Flush()
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

func clip(s string, n int) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
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
