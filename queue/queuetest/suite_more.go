package queuetest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/queue"
)

func testLogs(t *testing.T, newQueue NewQueue) {
	q := newQueue(t, queue.WithLogCap(50), queue.WithLogTTL(time.Hour))
	ctx := ctxT(t)
	id := queue.NewID()
	if err := q.AppendLog(ctx, id, "stdout", "one", "two"); err != nil {
		t.Fatal(err)
	}
	if err := q.AppendLog(ctx, id, "stderr", "three"); err != nil {
		t.Fatal(err)
	}
	lines, next, err := q.Logs(ctx, id, "", 0)
	if err != nil || len(lines) != 3 {
		t.Fatalf("logs: %+v, %v", lines, err)
	}
	if lines[0].Text != "one" || lines[2].Text != "three" || lines[2].Stream != "stderr" || lines[0].Time.IsZero() || next != lines[2].ID {
		t.Fatalf("log lines: %+v next %s", lines, next)
	}
	if more, n2, _ := q.Logs(ctx, id, next, 0); len(more) != 0 || n2 != next {
		t.Fatalf("logs after the last line: %+v %s", more, n2)
	}

	// Follow: a reader blocked on the tail gets a line appended later.
	got := make(chan []queue.LogLine, 1)
	go func() {
		l, _, err := q.Logs(ctx, id, next, 5*time.Second)
		if err != nil {
			t.Error(err)
		}
		got <- l
	}()
	time.Sleep(100 * time.Millisecond)
	w := q.LogWriter(ctx, id, "stdout")
	fmt.Fprint(w, "four\nfi")
	select {
	case l := <-got:
		if len(l) != 1 || l[0].Text != "four" {
			t.Fatalf("followed lines: %+v", l)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follower did not get the new line")
	}
	fmt.Fprint(w, "ve\r\n")
	fmt.Fprint(w, "six")
	_ = w.Close()
	lines, _, _ = q.Logs(ctx, id, "0", 0)
	if texts := logTexts(lines); texts != "one two three four five six" {
		t.Fatalf("log: %q", texts)
	}

	// Cap: XADD MAXLEN ~ 50 keeps about the last 50 lines (Redis trims
	// whole stream nodes of 100 entries, so up to ~150 may remain).
	big := make([]string, 400)
	for i := range big {
		big[i] = fmt.Sprintf("line %d", i)
	}
	if err := q.AppendLog(ctx, id, "stdout", big...); err != nil {
		t.Fatal(err)
	}
	n, err := Client(q).XLen(ctx, q.Keys().Log(id)).Result()
	if err != nil || n < 50 || n > 150+1 {
		t.Fatalf("log length after 406 lines with cap 50: %d (%v)", n, err)
	}
	all, _, _ := q.Logs(ctx, id, "0", 0)
	if all[len(all)-1].Text != "line 399" {
		t.Fatalf("last line: %q", all[len(all)-1].Text)
	}
	ttl, err := Client(q).PTTL(ctx, q.Keys().Log(id)).Result()
	if err != nil || ttl <= 59*time.Minute || ttl > time.Hour {
		t.Fatalf("log ttl: %v (%v), want about 1h", ttl, err)
	}
}

func logTexts(lines []queue.LogLine) string {
	var s []string
	for _, l := range lines {
		s = append(s, l.Text)
	}
	return strings.Join(s, " ")
}

func testHeartbeats(t *testing.T, newQueue NewQueue) {
	ttl := time.Second
	q := newQueue(t, queue.WithHeartbeatTTL(ttl))
	ctx := ctxT(t)
	started := time.UnixMilli(time.Now().UnixMilli())
	hb := queue.Heartbeat{Host: "h1", Role: "web", SHA: "abc123", PID: 42, Version: "v1",
		Started: started, SlotsBusy: 1, Slots: 4, Processed: 10, Failed: 2}
	if err := q.Heartbeat(ctx, hb); err != nil {
		t.Fatal(err)
	}
	if err := q.Heartbeat(ctx, queue.Heartbeat{Host: "h2", Role: "db", SHA: "def456"}); err != nil {
		t.Fatal(err)
	}
	ws, err := q.Workers(ctx)
	if err != nil || len(ws) != 2 || ws[0].Host != "h1" || ws[1].Host != "h2" {
		t.Fatalf("workers: %+v, %v", ws, err)
	}
	got := ws[0]
	if got.SHA != "abc123" || got.PID != 42 || got.Version != "v1" || !got.Started.Equal(started) ||
		got.SlotsBusy != 1 || got.Slots != 4 || got.Processed != 10 || got.Failed != 2 || got.Time.IsZero() {
		t.Fatalf("heartbeat round trip: %+v", got)
	}
	// h2 keeps beating, h1 stops: h1 drops out after the TTL.
	end := time.Now().Add(ttl + 200*time.Millisecond)
	for time.Now().Before(end) {
		time.Sleep(ttl / 10)
		if err := q.Heartbeat(ctx, queue.Heartbeat{Host: "h2", Role: "db", SHA: "def456"}); err != nil {
			t.Fatal(err)
		}
	}
	ws, _ = q.Workers(ctx)
	if len(ws) != 1 || ws[0].Host != "h2" {
		t.Fatalf("workers after h1 stopped: %+v", ws)
	}
	if _, ok, err := q.Worker(ctx, "h1"); ok || err != nil {
		t.Fatalf("h1 still alive (%v)", err)
	}
	if w, ok, _ := q.Worker(ctx, "h2"); !ok || w.SHA != "def456" {
		t.Fatalf("h2: %+v %v", w, ok)
	}
}

func testNamespaceIsolation(t *testing.T, newQueue NewQueue) {
	a, b := newQueue(t), newQueue(t)
	ctx := ctxT(t)
	target := queue.RoleQueue("web")
	idA := enqueue(t, a, target, 0)
	idB := enqueue(t, b, target, 0)
	if _, dup, _ := b.Enqueue(ctx, &queue.Run{Task: "x", Target: target}, "same-key"); dup {
		t.Fatal("fresh key a duplicate")
	}
	if _, dup, _ := a.Enqueue(ctx, &queue.Run{Task: "x", Target: target}, "same-key"); dup {
		t.Fatal("idempotency key leaked between namespaces")
	}
	ds := claim(t, a, "w1", target, 2)
	for _, d := range ds {
		if d.Run.ID == idB {
			t.Fatal("namespace a claimed b's run")
		}
	}
	if _, err := b.Get(ctx, idA); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("b sees a's run: %v", err)
	}
	if _, err := b.Kill(ctx, idA); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("b kills a's run: %v", err)
	}
	_ = a.Heartbeat(ctx, queue.Heartbeat{Host: "h1"})
	if ws, _ := b.Workers(ctx); len(ws) != 0 {
		t.Fatalf("b sees a's workers: %+v", ws)
	}
	wantStats(t, b, target, queue.QueueStats{Waiting: 2})
}
