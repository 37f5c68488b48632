package queuetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/queue"
)

// testLogBudget: a run printing far more than its log budget leaves at most
// the budget in Redis: the first lines, one marker saying what was cut, the
// last lines.
func testLogBudget(t *testing.T, newQueue NewQueue) {
	const budget = 64 << 10
	q := newQueue(t, queue.WithLogBudget(budget), queue.WithLogTTL(time.Hour))
	ctx := ctxT(t)
	id := queue.NewID()
	rl := q.RunLog(ctx, id)
	out, errw := rl.Writer("stdout"), rl.Writer("stderr")
	const total = 2000 // lines of ~1 KiB: ~2 MiB, 30 times the budget
	pad := strings.Repeat("x", 1000)
	for i := 0; i < total; i += 100 {
		var b strings.Builder
		for j := i; j < i+100; j++ {
			fmt.Fprintf(&b, "line %05d %s\n", j, pad)
		}
		w := out
		if i%200 == 100 {
			w = errw
		}
		if _, err := w.Write([]byte(b.String())); err != nil {
			t.Fatal(err)
		}
	}
	if err := rl.Close(); err != nil {
		t.Fatal(err)
	}

	stored, err := Client(q).XRange(ctx, q.Keys().Log(id), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var bytes int
	for _, m := range stored {
		bytes += len(m.Values["l"].(string))
	}
	if bytes > budget || len(stored) >= total/10 {
		t.Fatalf("log of a run printing %d KiB with a budget of %d KiB: %d lines, %d bytes stored", total, budget>>10, len(stored), bytes)
	}

	lines := readAllLogs(ctx, t, q, id)
	if len(lines) != len(stored)+1 {
		t.Fatalf("Logs returned %d lines for %d stored: want one marker more", len(lines), len(stored))
	}
	marker := -1
	for i, l := range lines {
		if strings.HasPrefix(l.Text, "… ") {
			marker = i
		}
	}
	cut := total - len(stored)
	if marker <= 0 || marker == len(lines)-1 || lines[marker].Stream != "worker" ||
		!strings.Contains(lines[marker].Text, fmt.Sprintf("… %d lines, ", cut)) || !strings.Contains(lines[marker].Text, "MiB cut") {
		t.Fatalf("no marker of %d cut lines between head and tail: marker at %d of %d: %+v", cut, marker, len(lines), lines[max(marker, 0)])
	}
	// Head: lines 0… in order; tail: … up to the last line, in order.
	for i, l := range lines {
		want := i
		if i > marker {
			want = total - (len(lines) - i)
		}
		if i != marker && !strings.HasPrefix(l.Text, fmt.Sprintf("line %05d ", want)) {
			t.Fatalf("line %d of the log is %.12q, want line %05d", i, l.Text, want)
		}
	}
	if lines[marker+1].Stream != "stderr" && lines[marker+1].Stream != "stdout" || lines[len(lines)-1].Stream != "stderr" {
		t.Fatalf("streams of the tail: %s … %s", lines[marker+1].Stream, lines[len(lines)-1].Stream)
	}
}

// readAllLogs reads a run's whole log, page by page.
func readAllLogs(ctx context.Context, t *testing.T, q *queue.Queue, id string) []queue.LogLine {
	t.Helper()
	var all []queue.LogLine
	from := "0"
	for {
		page, next, err := q.Logs(ctx, id, from, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			return all
		}
		all, from = append(all, page...), next
	}
}
