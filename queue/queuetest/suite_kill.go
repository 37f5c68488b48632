package queuetest

import (
	"errors"
	"testing"
	"time"

	"github.com/celeroot/celeroot/queue"
)

func testKillQueued(t *testing.T, newQueue NewQueue) {
	q := newQueue(t, queue.WithRetryBackoff(time.Hour, time.Hour))
	ctx := ctxT(t)
	target := queue.HostQueue("h1")
	id := enqueue(t, q, target, 3)
	if res, err := q.Kill(ctx, id); err != nil || res != queue.KillDone {
		t.Fatalf("kill queued: %v %v", res, err)
	}
	if r := wantState(t, q, id, queue.StateKilled); r.Reason == "" {
		t.Fatal("killed run has no reason")
	}
	claim(t, q, "h1", target, 0)
	wantStats(t, q, target, queue.QueueStats{})
	if res, _ := q.Kill(ctx, id); res != queue.KillTooLate {
		t.Fatalf("second kill: %v", res)
	}
	// Killed while waiting for a retry.
	id2 := enqueue(t, q, target, 3)
	complete(t, q, claim(t, q, "h1", target, 1)[0], queue.Result{ExitCode: 1})
	wantState(t, q, id2, queue.StateRetrying)
	if res, err := q.Kill(ctx, id2); err != nil || res != queue.KillDone {
		t.Fatalf("kill retrying: %v %v", res, err)
	}
	wantState(t, q, id2, queue.StateKilled)
	wantStats(t, q, target, queue.QueueStats{})
	if _, err := q.Kill(ctx, "NOSUCHRUN"); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("kill unknown: %v", err)
	}
}

func testKillRunningDurable(t *testing.T, newQueue NewQueue) {
	q := newQueue(t)
	ctx := ctxT(t)
	target := queue.HostQueue("h9")
	id := enqueue(t, q, target, 3)
	d := claim(t, q, "h9", target, 1)[0]
	// h9 has never read its control stream, and is offline when Kill is sent.
	if res, err := q.Kill(ctx, id); err != nil || res != queue.KillSignalled {
		t.Fatalf("kill running: %v %v", res, err)
	}
	if c, err := q.Cancelled(ctx, id); err != nil || !c {
		t.Fatalf("cancelled: %v %v", c, err)
	}
	// The worker comes (back) online: a new process reads its stream.
	q2, _ := queue.New(Client(q), q.Namespace())
	msgs, err := q2.ReadControl(ctx, "h9", 0)
	if err != nil || len(msgs) != 1 || msgs[0].Op != queue.ControlKill || msgs[0].Run != id {
		t.Fatalf("control messages: %+v, %v", msgs, err)
	}
	// Not acknowledged (the process died): the next process sees it again.
	q3, _ := queue.New(Client(q), q.Namespace())
	msgs, _ = q3.ReadControl(ctx, "h9", 0)
	if len(msgs) != 1 || msgs[0].Run != id {
		t.Fatalf("unacknowledged control message not redelivered: %+v", msgs)
	}
	if err := q3.AckControl(ctx, "h9", msgs...); err != nil {
		t.Fatal(err)
	}
	if msgs, _ := q3.ReadControl(ctx, "h9", 10*time.Millisecond); len(msgs) != 0 {
		t.Fatalf("acknowledged message redelivered: %+v", msgs)
	}
	if other, _ := q3.ReadControl(ctx, "h8", 0); len(other) != 0 {
		t.Fatal("another host got h9's kill")
	}
	if _, killed, _ := q.Renew(ctx, d); len(killed) != 1 {
		t.Fatal("renew did not report the kill")
	}
	// The task died of the kill (non-zero exit): killed, never retried.
	if r := complete(t, q, d, queue.Result{ExitCode: 143}); r.State != queue.StateKilled {
		t.Fatalf("killed run completed as %s", r.State)
	}
	wantStats(t, q, target, queue.QueueStats{})
}
