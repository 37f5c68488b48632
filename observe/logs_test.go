package observe

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/queue/queuetest"
)

func newQueue(t *testing.T) (*queue.Queue, *queuetest.RedisServer) {
	t.Helper()
	srv := queuetest.StartRedis(t)
	return queuetest.Opener(srv.URL())(t), srv
}

var (
	web1 = queue.ProcSource{Kind: "worker", Host: "web1", Role: "web"}
	db1  = queue.ProcSource{Kind: "worker", Host: "db1", Role: "db"}
	ctl  = queue.ProcSource{Kind: "agent", Host: "ctl"}
)

func ship(t *testing.T, q *queue.Queue, src queue.ProcSource, budget int64, at time.Time, texts ...string) {
	t.Helper()
	var ls []queue.ProcLine
	for i, s := range texts {
		ls = append(ls, queue.ProcLine{Time: at.Add(time.Duration(i) * time.Millisecond), Level: "INFO", Text: s})
	}
	if err := q.ShipLog(context.Background(), src, budget, ls); err != nil {
		t.Fatal(err)
	}
}

func texts(ls []queue.ProcLine) string {
	var out []string
	for _, l := range ls {
		out = append(out, l.Source.Host+":"+l.Text)
	}
	return strings.Join(out, " ")
}

func TestReadLogsMergesInTimeOrderAndFilters(t *testing.T) {
	ctx := context.Background()
	q, _ := newQueue(t)
	t0 := time.Now().Add(-time.Minute).Truncate(time.Second)
	// Shipped out of order across processes: the merge goes by log time.
	ship(t, q, ctl, 0, t0.Add(10*time.Millisecond), "c1", "c2")
	ship(t, q, web1, 0, t0, "w1", "w2", "w3")
	ship(t, q, db1, 0, t0.Add(11*time.Millisecond), "d1 error disk full")
	got, _, err := ReadLogs(ctx, q, LogFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "web1:w1 web1:w2 web1:w3 ctl:c1 ctl:c2 db1:d1 error disk full"; texts(got) != want {
		t.Fatalf("merged:\n got %s\nwant %s", texts(got), want)
	}
	for _, c := range []struct {
		name string
		f    LogFilter
		want string
	}{
		{"host", LogFilter{Host: "ctl"}, "ctl:c1 ctl:c2"},
		{"role", LogFilter{Role: "web"}, "web1:w1 web1:w2 web1:w3"},
		{"grep", LogFilter{Grep: regexp.MustCompile(`error|w2`)}, "web1:w2 db1:d1 error disk full"},
		{"since", LogFilter{Since: t0.Add(11 * time.Millisecond)}, "ctl:c2 db1:d1 error disk full"},
	} {
		got, _, err := ReadLogs(ctx, q, c.f)
		if err != nil {
			t.Fatal(err)
		}
		if texts(got) != c.want {
			t.Errorf("%s: got %q, want %q", c.name, texts(got), c.want)
		}
	}
}

func TestShipLogKeepsTheByteBudget(t *testing.T) {
	ctx := context.Background()
	q, _ := newQueue(t)
	const budget = 8 << 10
	line := strings.Repeat("x", 200)
	for i := range 100 {
		ship(t, q, web1, budget, time.Now(), fmt.Sprintf("%03d %s", i, line))
	}
	bytes, cut, err := q.ProcLogSize(ctx, web1)
	if err != nil {
		t.Fatal(err)
	}
	if bytes > budget || bytes < budget/2 {
		t.Errorf("stream holds %d bytes, want at most the budget %d (and not far below)", bytes, budget)
	}
	got, _, err := ReadLogs(ctx, q, LogFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(got))+cut != 100 || cut == 0 {
		t.Fatalf("kept %d lines, cut %d: want them to add up to 100 with some cut", len(got), cut)
	}
	if !strings.HasPrefix(got[len(got)-1].Text, "099 ") || strings.HasPrefix(got[0].Text, "000 ") {
		t.Errorf("want the newest kept and the oldest cut: first %.4s, last %.4s", got[0].Text, got[len(got)-1].Text)
	}
	// A line longer than the cap is cut to it.
	ship(t, q, db1, 0, time.Now(), strings.Repeat("y", queue.ProcLineMax*2))
	got, _, _ = ReadLogs(ctx, q, LogFilter{Host: "db1"})
	if len(got) != 1 || len(got[0].Text) > queue.ProcLineMax+4 {
		t.Errorf("a long line: %d lines, %d bytes", len(got), len(got[0].Text))
	}
}

func TestFollowSeesNewLines(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	q, _ := newQueue(t)
	ship(t, q, web1, 0, time.Now(), "old")
	_, cur, err := ReadLogs(ctx, q, LogFilter{})
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan string, 10)
	go func() {
		_ = FollowLogs(ctx, q, LogFilter{Grep: regexp.MustCompile("new")}, cur, 50*time.Millisecond, func(l queue.ProcLine) error {
			seen <- l.Source.Host + ":" + l.Text
			return nil
		})
	}()
	time.Sleep(150 * time.Millisecond)
	ship(t, q, web1, 0, time.Now(), "new on web1", "skipped")
	ship(t, q, ctl, 0, time.Now(), "new process")
	got := map[string]bool{}
	for len(got) < 2 {
		select {
		case s := <-seen:
			got[s] = true
		case <-ctx.Done():
			t.Fatalf("follow saw %v", got)
		}
	}
	if !got["web1:new on web1"] || !got["ctl:new process"] {
		t.Errorf("follow saw %v", got)
	}
}

func TestShipperMasksSecretsAndNeverBlocks(t *testing.T) {
	ctx := context.Background()
	q, srv := newQueue(t)
	s := NewShipper(q, web1, ShipOptions{Buffer: 64, Timeout: 200 * time.Millisecond})
	log := slog.New(s.Handler(slog.DiscardHandler, slog.LevelInfo))
	log.Info("connect", "url", "redis://u:hunter2@r:6379/0", "password", "hunter2", "host", "web1")
	log.Debug("not shipped")
	s.Close()
	got, _, err := ReadLogs(ctx, q, LogFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || strings.Contains(got[0].Text, "hunter2") || !strings.Contains(got[0].Text, "connect") ||
		!strings.Contains(got[0].Text, "host=web1") {
		t.Fatalf("shipped %q: want one line, secrets masked", texts(got))
	}

	// Redis down: logging stays fast, the lines are dropped and counted,
	// and the count is shipped once Redis is back.
	srv.Stop()
	s = NewShipper(q, db1, ShipOptions{Buffer: 16, Timeout: 200 * time.Millisecond})
	log = slog.New(s.Handler(slog.DiscardHandler, slog.LevelInfo))
	start := time.Now()
	for i := range 1000 {
		log.Info("line", "i", i)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("1000 log calls with Redis down took %s", d)
	}
	if s.Dropped() < 1000-16-256 { // the buffer and one batch in flight may still be trying
		t.Errorf("dropped %d of 1000 lines with a 16-line buffer and Redis down", s.Dropped())
	}
	srv.Start(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		log.Info("back")
		time.Sleep(100 * time.Millisecond)
		got, _, _ := ReadLogs(ctx, q, LogFilter{Host: "db1", Grep: regexp.MustCompile("dropped")})
		if len(got) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no dropped-lines report after Redis came back")
		}
	}
	s.Close()
}
