package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/celeroot/celeroot/queue"
)

// followBlock is how long one read of a followed log waits for new lines
// before the run's state is checked.
const followBlock = 200 * time.Millisecond

// streamLog hands the lines of run id to emit. Without follow it reads what
// the log holds now; with follow it goes on until the run is terminal and
// its last lines are read. It returns the run's last record.
func streamLog(ctx context.Context, q *queue.Queue, id string, follow bool, emit func(queue.LogLine)) (*queue.Run, error) {
	from := "0"
	for {
		block := time.Duration(0)
		if follow {
			block = followBlock
		}
		lines, next, err := q.Logs(ctx, id, from, block)
		if err != nil {
			return nil, err
		}
		for _, l := range lines {
			emit(l)
		}
		from = next
		if len(lines) > 0 {
			continue
		}
		r, err := q.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if !follow || r.State.Terminal() {
			// A worker writes all output before it completes the run: what
			// is left now is the tail.
			return r, drainLog(ctx, q, id, from, emit)
		}
	}
}

// drainLog emits the lines after from without waiting.
func drainLog(ctx context.Context, q *queue.Queue, id, from string, emit func(queue.LogLine)) error {
	for {
		lines, next, err := q.Logs(ctx, id, from, 0)
		if err != nil || len(lines) == 0 {
			return err
		}
		for _, l := range lines {
			emit(l)
		}
		from = next
	}
}

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

// maxFollowers caps the logs followed at once (each holds a connection
// while it blocks); runs beyond it are followed as others end.
const maxFollowers = 32

// waitSubmissions follows the enqueued runs to their end, streaming their
// logs prefixed by host, then prints a summary. It fails unless every run
// succeeded.
func waitSubmissions(a *App, q *queue.Queue, subs []*submission) error {
	p := &logPrinter{a: a, toStderr: a.JSON()}
	runs := make([]*queue.Run, len(subs))
	errs := make([]error, len(subs))
	sem := make(chan struct{}, maxFollowers)
	var wg sync.WaitGroup
	for i, s := range subs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			runs[i], errs[i] = streamLog(a.Ctx, q, s.ID, true, labelledEmit(a.Ctx, q, s, p))
		})
	}
	wg.Wait()
	if err := a.Ctx.Err(); err != nil {
		return fmt.Errorf("stopped following %d runs; they go on (see `cl task status --task-id ID`): %w", len(subs), err)
	}
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("follow run %s on %s: %w", subs[i].ID, subs[i].label(), err)
		}
	}
	return printSummary(a, subs, runs)
}

// labelledEmit prefixes a run's lines with its host; a run on a role queue
// is labelled with the worker that took it, once known.
func labelledEmit(ctx context.Context, q *queue.Queue, s *submission, p *logPrinter) func(queue.LogLine) {
	prefix, known := s.label(), s.Host != ""
	return func(l queue.LogLine) {
		if !known {
			if r, err := q.Get(ctx, s.ID); err == nil && r.Worker != "" {
				prefix, known = r.Worker, true
			}
		}
		p.print(prefix, l)
	}
}

// runResult is one run in the --wait summary: its host and its record.
type runResult struct {
	Host string `json:"host"`
	*queue.Run
}

// printSummary prints the final state of every run; it fails unless all
// succeeded.
func printSummary(a *App, subs []*submission, runs []*queue.Run) error {
	ok := 0
	results := make([]runResult, len(runs))
	for i, r := range runs {
		results[i] = runResult{Host: runHost(r), Run: r}
		if r.State.Successful() {
			ok++
		}
	}
	if a.JSON() {
		if err := a.PrintJSON(results); err != nil {
			return err
		}
	} else {
		printResultTable(a, results)
		fmt.Fprintf(a.Stdout, "%d of %s succeeded\n", ok, plural(len(runs), "run"))
	}
	if ok < len(runs) {
		return silentExit(ExitError)
	}
	return nil
}

func printResultTable(a *App, results []runResult) {
	t := newTable(a.Stdout, "HOST", "TASK", "STATE", "EXIT", "TIME", "ID")
	for _, r := range results {
		t.row(r.Host, r.Task, r.State, r.ExitCode, runDuration(r.Run), r.ID)
	}
	_ = t.flush()
	for _, r := range results {
		if !r.State.Successful() && r.Reason != "" {
			fmt.Fprintln(a.Stdout, forTerminal(a.Stdout, fmt.Sprintf("%s: %s: %s", r.Host, r.State, r.Reason)))
		}
	}
}

// runHost is the host a run is for (host queue) or ran on (role queue).
func runHost(r *queue.Run) string {
	if h, ok := strings.CutPrefix(r.Target, "host:"); ok {
		return h
	}
	if r.Worker != "" {
		return r.Worker
	}
	return r.Target
}

// runDuration is how long the run ran, or "-" when it has not started or
// ended.
func runDuration(r *queue.Run) string {
	if r.StartedAt.IsZero() || r.FinishedAt.IsZero() {
		return "-"
	}
	d := r.FinishedAt.Sub(r.StartedAt)
	if d < time.Second {
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return d.Round(100 * time.Millisecond).String()
}
