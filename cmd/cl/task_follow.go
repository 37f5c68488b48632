package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/celeroot/celeroot/dispatch"
	"github.com/celeroot/celeroot/queue"
)

// logPrinter writes log lines from concurrent followers, a line at a time.
type logPrinter struct {
	mu        sync.Mutex
	a         *App
	jsonLines bool // one JSON object per line on stdout (cl task logs -o json)
	toStderr  bool // all lines on stderr: stdout is kept for the JSON result
}

// jsonLogLine is a log line in `cl task logs -o json`.
type jsonLogLine struct {
	Time   time.Time `json:"time"`
	Stream string    `json:"stream"`
	Text   string    `json:"text"`
}

func (p *logPrinter) print(prefix string, l queue.LogLine) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.jsonLines {
		b, _ := json.Marshal(jsonLogLine{Time: l.Time, Stream: l.Stream, Text: l.Text})
		fmt.Fprintf(p.a.Stdout, "%s\n", b)
		return
	}
	var w io.Writer = p.a.Stdout
	if p.toStderr || l.Stream != "stdout" {
		w = p.a.Stderr
	}
	text := l.Text
	if l.Stream != "stdout" && l.Stream != "stderr" { // the worker's own notes ("worker")
		text = l.Stream + ": " + text
	}
	text = forTerminal(w, text)
	if prefix != "" {
		fmt.Fprintf(w, "%s | %s\n", forTerminal(w, prefix), text)
		return
	}
	fmt.Fprintln(w, text)
}

// waitSubmissions follows the enqueued runs to their end (dispatch.Follow),
// streaming their logs prefixed by host, then prints a summary. Runs that no
// live worker can take are named at once and not waited for; timeout (0: none)
// bounds the wait. It fails unless every run succeeded.
func waitSubmissions(a *App, q *queue.Queue, subs []*submission, timeout time.Duration) error {
	idle, err := dispatch.Unserved(a.Ctx, q, subs)
	if err != nil {
		return fmt.Errorf("read worker heartbeats: %w", err)
	}
	skip := map[int]bool{}
	var names []string
	for _, i := range idle {
		skip[i] = true
		names = append(names, subs[i].Label())
	}
	if len(idle) > 0 {
		stay := " stay"
		if len(idle) == 1 {
			stay = " stays"
		}
		fmt.Fprintf(a.Stderr, "no live worker (no heartbeat) on %s: %s queued until a worker starts (see `cl task status`); waiting for the others\n",
			joinMax(names, 10), plural(len(idle), "run")+stay)
	}
	ctx, cancel := a.Ctx, context.CancelFunc(func() {})
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(a.Ctx, timeout)
	}
	defer cancel()
	var ids []string
	var followed []*submission
	for i, s := range subs {
		if !skip[i] {
			ids, followed = append(ids, s.ID), append(followed, s)
		}
	}
	p := &logPrinter{a: a, toStderr: a.JSON()}
	emits := make([]func(queue.LogLine), len(followed))
	for i, s := range followed {
		emits[i] = labelledEmit(ctx, q, s, p)
	}
	runs, errs := dispatch.Follow(ctx, q, ids, func(i int, l queue.LogLine) { emits[i](l) })
	if err := stoppedWaiting(a, ctx, timeout, followed, runs); err != nil {
		return err
	}
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("follow run %s on %s: %w", followed[i].ID, followed[i].Label(), err)
		}
	}
	return printSummary(a, q, subs, skip, runs)
}

// stoppedWaiting is the error of a wait cut short by Ctrl-C or --timeout:
// it names the runs still pending, which go on.
func stoppedWaiting(a *App, ctx context.Context, timeout time.Duration, subs []*submission, runs []*queue.Run) error {
	if ctx.Err() == nil {
		return nil
	}
	var pending []string
	for i, r := range runs {
		if r == nil {
			pending = append(pending, subs[i].ID+" ("+subs[i].Label()+")")
		}
	}
	if len(pending) == 0 { // every run ended just as the wait was cut short
		return nil
	}
	what := fmt.Sprintf("%s still pending: %s; they go on (see `cl task status --task-id ID`)",
		plural(len(pending), "run"), strings.Join(pending, ", "))
	if a.Ctx.Err() != nil {
		return withCode(ExitInterrupted, errors.New("interrupted: "+what))
	}
	return withCode(ExitError, fmt.Errorf("timed out after %v: %s", timeout, what))
}

// labelledEmit prefixes a run's lines with its host; a run on a role queue
// is labelled with the worker that took it, once known.
func labelledEmit(ctx context.Context, q *queue.Queue, s *submission, p *logPrinter) func(queue.LogLine) {
	prefix, known := s.Label(), s.Host != ""
	return func(l queue.LogLine) {
		if !known {
			if r, err := q.Get(ctx, s.ID); err == nil && r.Worker != "" {
				prefix, known = r.Worker, true
			}
		}
		p.print(prefix, l)
	}
}
