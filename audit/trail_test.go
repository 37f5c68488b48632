package audit_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/ssh"

	"github.com/celeroot/celeroot/audit"
	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/queue/queuetest"
)

type fixture struct {
	q     *queue.Queue
	rdb   redis.UniversalClient
	trail *audit.Trail
	keys  queue.Keys
}

func newSigner(t *testing.T) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newFixture starts a redis-server and returns a trail on it with a mirror
// and a signing key, and n records appended.
func newFixture(t *testing.T, n int) *fixture {
	t.Helper()
	srv := queuetest.StartRedis(t)
	ctx := context.Background()
	q, err := queue.Open(ctx, srv.URL(), queue.Namespace{Cluster: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	f := &fixture{q: q, rdb: queuetest.Client(q), keys: q.Keys(),
		trail: &audit.Trail{Store: q, Mirror: filepath.Join(t.TempDir(), "audit", "prod-default.jsonl"), Signer: newSigner(t)}}
	for i := range n {
		f.append(t, "host.update", fmt.Sprintf("web%d", i+1))
	}
	return f
}

func (f *fixture) append(t *testing.T, action string, targets ...string) audit.Record {
	t.Helper()
	r, err := f.trail.Append(context.Background(), audit.Record{Actor: audit.Actor{Via: "cli", User: "alice"}, Action: action, Targets: targets, Result: audit.ResultOK})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (f *fixture) verify(t *testing.T) *audit.Report {
	t.Helper()
	rep, err := f.trail.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func (f *fixture) raw(t *testing.T, seq int) string {
	t.Helper()
	v, err := f.rdb.LIndex(context.Background(), f.keys.AuditLog(), int64(seq-1)).Result()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (f *fixture) set(t *testing.T, seq int, v string) {
	t.Helper()
	if err := f.rdb.LSet(context.Background(), f.keys.AuditLog(), int64(seq-1), v).Err(); err != nil {
		t.Fatal(err)
	}
}

// rehash rewrites record seq's content with change and gives it a matching
// hash, as an attacker who knows the scheme would.
func (f *fixture) rehash(t *testing.T, seq int, change func(*audit.Record)) {
	t.Helper()
	var r audit.Record
	if err := json.Unmarshal([]byte(f.raw(t, seq)), &r); err != nil {
		t.Fatal(err)
	}
	change(&r)
	c, err := audit.Canonical(r)
	if err != nil {
		t.Fatal(err)
	}
	r.Hash = audit.ChainHash(r.Prev, c)
	b, _ := json.Marshal(r)
	f.set(t, seq, string(b))
}

func TestVerifyIntactChain(t *testing.T) {
	f := newFixture(t, 5)
	rep := f.verify(t)
	if !rep.OK() || rep.Records != 5 || rep.Mirror != 5 || rep.Checkpoint == nil || rep.Checkpoint.Seq != 5 {
		t.Fatalf("intact chain: %+v", rep)
	}
	recs, err := f.trail.Records(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		if r.Seq != int64(i+1) || (i > 0 && r.Prev != recs[i-1].Hash) || r.Targets[0] != fmt.Sprintf("web%d", i+1) {
			t.Fatalf("record %d: %+v", i+1, r)
		}
	}
	info, err := os.Stat(f.trail.Mirror)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("mirror %v mode %v, want 0600", err, info.Mode())
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name    string
		tamper  func(t *testing.T, f *fixture)
		noLocal bool // also remove the mirror: only the checkpoint can tell
		seq     int64
		msg     string
	}{
		{name: "modify a record", seq: 3, msg: "record 3 was modified", tamper: func(t *testing.T, f *fixture) {
			f.set(t, 3, strings.Replace(f.raw(t, 3), `"web3"`, `"evil"`, 1))
		}},
		{name: "add a key to a record", seq: 2, msg: "record 2 was modified", tamper: func(t *testing.T, f *fixture) {
			f.set(t, 2, strings.Replace(f.raw(t, 2), `{"seq":2,`, `{"seq":2,"note":"approved by the CISO",`, 1))
		}},
		{name: "modify and rehash a record", seq: 3, msg: "record 4 does not chain to record 3", tamper: func(t *testing.T, f *fixture) {
			f.rehash(t, 3, func(r *audit.Record) { r.Result = audit.ResultFailed })
		}},
		{name: "delete a middle record", seq: 3, msg: "record 3 is missing", tamper: func(t *testing.T, f *fixture) {
			if err := f.rdb.LRem(ctx, f.keys.AuditLog(), 1, f.raw(t, 3)).Err(); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "reorder", seq: 2, msg: "position 2 holds record 3", tamper: func(t *testing.T, f *fixture) {
			two, three := f.raw(t, 2), f.raw(t, 3)
			f.set(t, 2, three)
			f.set(t, 3, two)
		}},
		{name: "truncate the tail and fix the head", seq: 4, msg: "records 4–5 are missing", noLocal: true, tamper: func(t *testing.T, f *fixture) {
			var r3 audit.Record
			_ = json.Unmarshal([]byte(f.raw(t, 3)), &r3)
			f.rdb.LTrim(ctx, f.keys.AuditLog(), 0, 2)
			f.rdb.Set(ctx, f.keys.AuditHead(), "3|"+r3.Hash, 0)
		}},
		{name: "truncate the tail, caught by the mirror", seq: 4, msg: "record 4 is missing from Redis", tamper: func(t *testing.T, f *fixture) {
			var r3 audit.Record
			_ = json.Unmarshal([]byte(f.raw(t, 3)), &r3)
			f.rdb.LTrim(ctx, f.keys.AuditLog(), 0, 2)
			f.rdb.Set(ctx, f.keys.AuditHead(), "3|"+r3.Hash, 0)
			_ = os.Remove(audit.CheckpointPath(f.trail.Mirror))
		}},
		{name: "replace the whole chain", seq: 5, msg: "record 5 does not match the signed checkpoint", noLocal: true, tamper: func(t *testing.T, f *fixture) {
			f.rdb.Del(ctx, f.keys.AuditLog(), f.keys.AuditHead())
			forger := &audit.Trail{Store: f.q}
			for i := range 5 {
				if _, err := forger.Append(ctx, audit.Record{Actor: audit.Actor{Via: "cli", User: "mallory"}, Action: "host.add", Targets: []string{fmt.Sprint("x", i)}, Result: audit.ResultOK}); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{name: "replace the chain and re-sign the checkpoint with another key", seq: 5, msg: "not by audit.signing_key", noLocal: true, tamper: func(t *testing.T, f *fixture) {
			f.rdb.Del(ctx, f.keys.AuditLog(), f.keys.AuditHead())
			forger := &audit.Trail{Store: f.q, Mirror: f.trail.Mirror + ".forged", Signer: newSigner(t)}
			for range 5 {
				if _, err := forger.Append(ctx, audit.Record{Actor: audit.Actor{Via: "cli"}, Action: "host.add", Result: audit.ResultOK}); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Rename(audit.CheckpointPath(forger.Mirror), audit.CheckpointPath(f.trail.Mirror)); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "edit the checkpoint", seq: 5, msg: "signature does not verify", tamper: func(t *testing.T, f *fixture) {
			p := audit.CheckpointPath(f.trail.Mirror)
			b, _ := os.ReadFile(p)
			var cp audit.Checkpoint
			_ = json.Unmarshal(b, &cp)
			cp.Hash = strings.Repeat("0", 64)
			b, _ = json.Marshal(cp)
			_ = os.WriteFile(p, b, 0o600)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, 5)
			c.tamper(t, f)
			if c.noLocal {
				// Keep the checkpoint, drop the mirror: the signed checkpoint alone must tell.
				if err := os.Remove(f.trail.Mirror); err != nil {
					t.Fatal(err)
				}
			}
			rep := f.verify(t)
			first := rep.First()
			if first == nil {
				t.Fatalf("tampering not detected: %+v", rep)
			}
			if first.Seq != c.seq || !strings.Contains(first.Message, c.msg) {
				t.Fatalf("first problem = %d %q, want %d containing %q (all: %+v)", first.Seq, first.Message, c.seq, c.msg, rep.Problems)
			}
		})
	}
}

func TestConcurrentAppendersKeepOneChain(t *testing.T) {
	f := newFixture(t, 0)
	const writers, each = 8, 12
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each writer is its own process as far as the chain goes: its
			// own Trail, the same Redis.
			tr := &audit.Trail{Store: f.q, Mirror: f.trail.Mirror, Signer: f.trail.Signer}
			for i := range each {
				if _, err := tr.Append(context.Background(), audit.Record{Actor: audit.Actor{Via: "cli", User: fmt.Sprint("w", w)}, Action: "task.run", Targets: []string{fmt.Sprint(i)}, Result: audit.ResultOK}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	rep := f.verify(t)
	if !rep.OK() || rep.Records != writers*each || rep.Mirror != writers*each {
		t.Fatalf("after concurrent appends: %+v", rep)
	}
}

func TestAppendFailsWithoutRedis(t *testing.T) {
	f := newFixture(t, 1)
	f.q.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := f.trail.Append(ctx, audit.Record{Action: "host.update"}); err == nil {
		t.Fatal("append with Redis closed succeeded")
	}
}
