package observe

import (
	"cmp"
	"context"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/celeroot/celeroot/queue"
)

// LogReader reads the processes' log streams (*queue.Queue).
type LogReader interface {
	ProcSources(ctx context.Context) ([]queue.ProcSource, error)
	ProcLog(ctx context.Context, src queue.ProcSource, after string, since time.Time, count int64) ([]queue.ProcLine, string, error)
}

// LogFilter selects lines; zero fields select everything.
type LogFilter struct {
	Host  string         // the process runs on (is) this host
	Role  string         // a worker of this role (beat and agent lines have none)
	Since time.Time      // not older than this
	Grep  *regexp.Regexp // the text matches
}

func (f LogFilter) source(s queue.ProcSource) bool {
	return (f.Host == "" || s.Host == f.Host) && (f.Role == "" || s.Role == f.Role)
}

func (f LogFilter) line(l queue.ProcLine) bool {
	return (f.Since.IsZero() || !l.Time.Before(f.Since)) && (f.Grep == nil || f.Grep.MatchString(l.Text))
}

// Cursors are where each process's log was read up to.
type Cursors map[string]string

const page = 1000

// ReadLogs returns the kept lines of every process that f selects, merged
// in time order (the time each line was logged; ties by process), and the
// cursors to follow from.
func ReadLogs(ctx context.Context, r LogReader, f LogFilter) ([]queue.ProcLine, Cursors, error) {
	srcs, err := r.ProcSources(ctx)
	if err != nil {
		return nil, nil, err
	}
	cur := Cursors{}
	var out []queue.ProcLine
	for _, s := range srcs {
		if !f.source(s) {
			continue
		}
		lines, next, err := readAll(ctx, r, s, "", f)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, lines...)
		cur[s.Name()] = next
	}
	sortLines(out)
	return out, cur, nil
}

// readAll reads a source's lines after a cursor, page by page.
func readAll(ctx context.Context, r LogReader, s queue.ProcSource, after string, f LogFilter) ([]queue.ProcLine, string, error) {
	var out []queue.ProcLine
	for {
		lines, next, err := r.ProcLog(ctx, s, after, f.Since, page)
		if err != nil {
			return nil, after, err
		}
		for _, l := range lines {
			if f.line(l) {
				out = append(out, l)
			}
		}
		if next == after {
			return out, next, nil
		}
		after = next
	}
}

func sortLines(ls []queue.ProcLine) {
	slices.SortStableFunc(ls, func(a, b queue.ProcLine) int {
		return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.Source.Name(), b.Source.Name()), compareIDs(a.ID, b.ID))
	})
}

// compareIDs orders stream entry ids ("ms-seq") of one stream.
func compareIDs(a, b string) int {
	return cmp.Or(cmp.Compare(len(a), len(b)), cmp.Compare(a, b))
}

// FollowLogs emits the new lines of the processes f selects every period
// until ctx ends, starting after cur (a process not in cur, e.g. one that
// started since, from its first line). Each round's lines are emitted in
// time order.
func FollowLogs(ctx context.Context, r LogReader, f LogFilter, cur Cursors, every time.Duration, emit func(queue.ProcLine) error) error {
	if cur == nil {
		cur = Cursors{}
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		srcs, err := r.ProcSources(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		var round []queue.ProcLine
		for _, s := range srcs {
			if !f.source(s) {
				continue
			}
			lines, next, err := readAll(ctx, r, s, cur[s.Name()], f)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			cur[s.Name()] = next
			round = append(round, lines...)
		}
		sortLines(round)
		for _, l := range round {
			if err := emit(l); err != nil {
				return err
			}
		}
	}
}

// FormatLine renders a line for a terminal: time, process, role, level, text.
func FormatLine(l queue.ProcLine) string {
	who := l.Source.Name()
	if l.Source.Role != "" {
		who += "(" + l.Source.Role + ")"
	}
	return fmt.Sprintf("%s %s %s %s", l.Time.Format("2006-01-02T15:04:05.000Z07:00"), who, l.Level, l.Text)
}
