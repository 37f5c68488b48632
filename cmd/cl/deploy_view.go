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
