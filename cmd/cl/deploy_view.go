package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/deploy"
)

// deployView shows a deploy's events: a live per-host table on a
// terminal (stderr), one JSON object per line with -o json, and only
// rollout-level news otherwise.
type deployView struct {
	a      *App
	rel    *deploy.Release
	live   bool
	mu     sync.Mutex
	hosts  []string
	state  map[string]*hostLine
	news   []string
	drawn  int
	last   time.Time
	start  time.Time
	closed bool
	enc    *json.Encoder
}

type hostLine struct {
	step    deploy.Step
	status  deploy.Status
	outcome deploy.Outcome
	bytes   int64
	since   time.Time
	msg     string
}

// maxLiveRows caps the hosts shown live; the rest are counted.
const maxLiveRows = 24

func newDeployView(a *App, rel *deploy.Release, hosts []*config.Host) *deployView {
	v := &deployView{a: a, rel: rel, state: map[string]*hostLine{}, start: time.Now()}
	for _, h := range hosts {
		v.hosts = append(v.hosts, h.Name)
		v.state[h.Name] = &hostLine{step: "waiting"}
	}
	if a.JSON() {
		v.enc = json.NewEncoder(a.Stdout)
		return v
	}
	f, ok := a.Stderr.(*os.File)
	v.live = ok && isatty.IsTerminal(f.Fd())
	if v.live {
		fmt.Fprintf(a.Stderr, "deploying %s to %s\n", rel.Short(), plural(len(hosts), "host"))
	}
	return v
}

type jsonEvent struct {
	Type string `json:"type"`
	deploy.Event
}

// event is the engine's Events callback (called one at a time).
func (v *deployView) event(ev deploy.Event) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.enc != nil {
		_ = v.enc.Encode(jsonEvent{Type: "event", Event: ev})
		return
	}
	if ev.Host == "" {
		if ev.Status == deploy.StatusFailed {
			v.news = append(v.news, ev.Message)
			if !v.live {
				fmt.Fprintln(v.a.Stderr, "cl: "+ev.Message)
			}
		}
		return
	}
	l := v.state[ev.Host]
	if l == nil {
		return
	}
	if ev.Step != l.step {
		l.since = ev.Time
	}
	l.step, l.status, l.bytes, l.msg = ev.Step, ev.Status, max(l.bytes, ev.Bytes), ev.Message
	if ev.Outcome != "" {
		l.outcome = ev.Outcome
	}
	if v.live && time.Since(v.last) > 80*time.Millisecond {
		v.draw()
	}
}

// draw rewrites the live table in place.
func (v *deployView) draw() {
	var b strings.Builder
	if v.drawn > 0 {
		fmt.Fprintf(&b, "\033[%dA", v.drawn)
	}
	rows, counts := v.rows()
	for _, r := range rows {
		b.WriteString("\r\033[K" + r + "\n")
	}
	b.WriteString("\r\033[K" + counts + "\n")
	for _, n := range v.news {
		b.WriteString("\r\033[K" + n + "\n")
	}
	v.drawn = len(rows) + 1 + len(v.news)
	v.last = time.Now()
	fmt.Fprint(v.a.Stderr, b.String())
}

// rows shows hosts in flight first, then finished, then waiting ones.
func (v *deployView) rows() ([]string, string) {
	names := append([]string(nil), v.hosts...)
	rank := func(l *hostLine) int {
		switch {
		case l.outcome == "" && l.step != "waiting":
			return 0
		case l.outcome != "" && !l.outcome.Successful():
			return 1
		case l.outcome != "":
			return 2
		}
		return 3
	}
	sort.SliceStable(names, func(i, j int) bool { return rank(v.state[names[i]]) < rank(v.state[names[j]]) })
	count := map[string]int{}
	var rows []string
	for _, n := range names {
		l := v.state[n]
		what := string(l.step)
		if l.outcome != "" {
			what = string(l.outcome)
		} else if l.status == deploy.StatusFailed {
			what += " failed"
		}
		key := what
		if l.outcome == "" {
			key = "in progress"
			if l.step == "waiting" {
				key = "waiting"
			}
		}
		count[key]++
		if len(rows) < maxLiveRows {
			el := ""
			if l.outcome == "" && l.step != "waiting" {
				el = time.Since(l.since).Round(100 * time.Millisecond).String()
			}
			msg := l.msg
			if len(msg) > 80 {
				msg = msg[:77] + "..."
			}
			rows = append(rows, fmt.Sprintf("  %-20s %-14s %9s %6s  %s", n, what, bytesIEC(uint64(l.bytes)), el, msg))
		}
	}
	var parts []string
	for _, k := range []string{"in progress", "waiting", "deployed", "unchanged", "rolled-back", "failed", "cancelled", "skipped"} {
		if count[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", count[k], k))
		}
	}
	return rows, fmt.Sprintf("  %s — %s", strings.Join(parts, ", "), time.Since(v.start).Round(100*time.Millisecond))
}

func (v *deployView) close() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.live && !v.closed {
		v.draw()
	}
	v.closed = true
}

// printDeployReport prints the report: a table (text) or one JSON object
// of type "report" (after the event lines).
func printDeployReport(a *App, rep *deploy.Report) error {
	if a.JSON() {
		return json.NewEncoder(a.Stdout).Encode(struct {
			Type   string         `json:"type"`
			Report *deploy.Report `json:"report"`
		}{"report", rep})
	}
	w := a.Stdout
	fmt.Fprintf(w, "deploy of %s (id %s): %s", deploy.ShortVersion(rep.Version), rep.ID, rep.Strategy)
	if rep.Strategy == deploy.StrategyRolling {
		fmt.Fprintf(w, ", batch %d", rep.Batch)
	}
	if rep.Strategy == deploy.StrategyCanary {
		fmt.Fprintf(w, ", canary %d", rep.Canary)
	}
	fmt.Fprintf(w, ", max-fail %d\n", rep.MaxFail)
	t := newTable(w, "HOST", "OUTCOME", "FROM", "CURRENT", "WORKER", "SENT", "FILES", "TIME")
	for _, h := range rep.Hosts {
		files := "-"
		if h.Transfer != "" {
			files = fmt.Sprintf("%d sent, %d linked", h.FilesSent, h.FilesLinked)
		}
		t.row(h.Host, h.Outcome, short(h.From), short(h.Current), short(h.Worker), bytesIEC(uint64(h.BytesSent)), files,
			(time.Duration(h.Durations.Total) * time.Millisecond).Round(10*time.Millisecond))
	}
	t.flush()
	for _, h := range rep.Hosts {
		printHostProblem(a, h)
	}
	if rep.Stopped {
		fmt.Fprintf(w, "rollout stopped: %s\n", rep.StopReason)
	}
	fmt.Fprintf(w, "%s in %s, %s sent\n", rep.Summary(), rep.Finished.Sub(rep.Started).Round(10*time.Millisecond), bytesIEC(uint64(rep.BytesSent())))
	return nil
}

func printHostProblem(a *App, h deploy.HostReport) {
	w := a.Stdout
	if h.Error == "" || h.Outcome == deploy.OutcomeSkipped {
		return
	}
	fmt.Fprintf(w, "%s: %s", h.Host, h.Error)
	if h.FailedStep != "" {
		fmt.Fprintf(w, " (at %s)", h.FailedStep)
	}
	fmt.Fprintln(w)
	if rb := h.Rollback; rb != nil {
		switch {
		case rb.Error != "":
			fmt.Fprintf(w, "  rollback to %s: %s\n", short(rb.To), rb.Error)
		default:
			fmt.Fprintf(w, "  rolled back to %s, worker verified\n", short(rb.To))
		}
	}
	if h.SetupOutput != "" {
		fmt.Fprintf(w, "  setup_command output:\n%s\n", indent(h.SetupOutput, "    "))
	}
	if len(h.LogTail) > 0 {
		fmt.Fprintf(w, "  worker log (last %d lines):\n%s\n", len(h.LogTail), indent(strings.Join(h.LogTail, "\n"), "    "))
	}
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = prefix + lines[i]
	}
	return strings.Join(lines, "\n")
}
