package queue_test

import (
	"context"
	"fmt"
	"os/exec"
	"testing"

	"github.com/celeroot/celeroot/queue/queuetest"
)

// TestAuditAppendCompareAndSet: an append lands only on the head it was
// built on, on redis-server and on the embedded miniredis of cl dev.
func TestAuditAppendCompareAndSet(t *testing.T) {
	backends := map[string]queuetest.NewQueue{"miniredis": queuetest.Opener(queuetest.StartMiniredis(t))}
	if _, err := exec.LookPath("redis-server"); err == nil {
		backends["redis-server"] = queuetest.Opener(queuetest.StartRedis(t).URL())
	}
	for name, newQueue := range backends {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			q := newQueue(t)
			if seq, h, err := q.AuditHead(ctx); err != nil || seq != 0 || h != "" {
				t.Fatalf("empty head: %d %q %v", seq, h, err)
			}
			if ok, err := q.AuditAppend(ctx, 0, "", 1, "h1", []byte(`{"seq":1}`)); !ok || err != nil {
				t.Fatalf("first append: %v %v", ok, err)
			}
			// A second appender that read the empty head loses.
			if ok, err := q.AuditAppend(ctx, 0, "", 1, "x1", []byte(`{"seq":1,"x":1}`)); ok || err != nil {
				t.Fatalf("append on a stale head: %v %v, want false", ok, err)
			}
			if ok, err := q.AuditAppend(ctx, 1, "wrong", 2, "h2", []byte(`{"seq":2}`)); ok || err != nil {
				t.Fatalf("append on a wrong hash: %v %v, want false", ok, err)
			}
			if ok, err := q.AuditAppend(ctx, 1, "h1", 2, "h2", []byte(`{"seq":2}`)); !ok || err != nil {
				t.Fatalf("second append: %v %v", ok, err)
			}
			seq, h, err := q.AuditHead(ctx)
			recs, rerr := q.AuditRecords(ctx)
			if err != nil || rerr != nil || seq != 2 || h != "h2" || fmt.Sprintf("%s", recs) != `[{"seq":1} {"seq":2}]` {
				t.Fatalf("head %d %q %v, records %s %v", seq, h, err, recs, rerr)
			}
			if ttl := queuetest.Client(q).TTL(ctx, q.Keys().AuditLog()).Val(); ttl >= 0 {
				t.Errorf("the audit log expires (%v)", ttl)
			}
		})
	}
}
