package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/csv"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/celeroot/celeroot/audit"
	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/queue/queuetest"
)

// auditProject is a `cl config init` project on url with an audit
// section: a signing key next to cl.yaml and the mirror in the project.
func auditProject(t *testing.T, url, extra string) string {
	t.Helper()
	path := initProject(t)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKey(priv, "audit")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), "audit_key"), pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	s := strings.Replace(string(data), "redis://127.0.0.1:6379/0", url, 1)
	s += "\naudit:\n  signing_key: audit_key\n  file: state/audit.jsonl\n" + extra
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestAuditTrailFromTheCLI: a host update and a config edit each leave a
// record; logs, export and verify read them; a record changed in Redis
// makes verify exit 1 naming it.
func TestAuditTrailFromTheCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("needs redis-server")
	}
	srv := queuetest.StartRedis(t)
	path := auditProject(t, srv.URL(), "")
	if _, stderr, code := cl(t, "-c", path, "host", "update", "local", "--tag", "team=ops", "--no-commit"); code != 0 {
		t.Fatalf("host update: %d %s", code, stderr)
	}
	editor := filepath.Join(t.TempDir(), "ed.sh")
	os.WriteFile(editor, []byte("#!/bin/sh\nsed -i 's/concurrency: 2/concurrency: 3/' \"$1\"\n"), 0o755)
	if _, stderr, code := cl(t, "-c", path, "config", "edit", "--editor", editor); code != 0 || stderr != "" {
		t.Fatalf("config edit: %d %s", code, stderr)
	}
	// A read-only command leaves no record.
	cl(t, "-c", path, "host", "list")

	out, stderr, code := cl(t, "-c", path, "-o", "json", "audit", "logs")
	var recs []audit.Record
	if code != 0 || json.Unmarshal([]byte(out), &recs) != nil || len(recs) != 2 {
		t.Fatalf("audit logs: %d %s %s", code, out, stderr)
	}
	if r := recs[0]; r.Action != "host.update" || strings.Join(r.Targets, " ") != "host:local" || r.Result != audit.ResultOK ||
		r.Actor.Via != "cli" || r.Actor.User == "" || r.Seq != 1 || r.Hash == "" {
		t.Fatalf("record 1: %+v", r)
	}
	if r := recs[1]; r.Action != "config.edit" || r.Prev != recs[0].Hash || r.Seq != 2 {
		t.Fatalf("record 2: %+v", r)
	}
	if out, _, _ := cl(t, "-c", path, "audit", "logs", "--action", "host"); !strings.Contains(out, "host.update") || strings.Contains(out, "config.edit") {
		t.Fatalf("logs --action host:\n%s", out)
	}
	out, _, code = cl(t, "-c", path, "audit", "export", "--since", "2024-01-01", "--format", "csv")
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if code != 0 || err != nil || len(rows) != 3 || rows[1][9] != "host.update" {
		t.Fatalf("export csv: %d %v %q", code, err, rows)
	}
	out, stderr, code = cl(t, "-c", path, "audit", "verify")
	if code != 0 || !strings.Contains(out, "audit trail intact: 2 records") || !strings.Contains(out, "signed checkpoint at record 2") {
		t.Fatalf("verify intact: %d %s %s", code, out, stderr)
	}
	if info, err := os.Stat(filepath.Join(filepath.Dir(path), "state", "audit.jsonl")); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("mirror: %v", err)
	}

	// Tamper in Redis: record 1 now claims another host.
	q, err := queue.Open(context.Background(), srv.URL(), queue.Namespace{Cluster: "myfleet"})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	rdb, key := queuetest.Client(q), q.Keys().AuditLog()
	first, _ := rdb.LIndex(context.Background(), key, 0).Result()
	rdb.LSet(context.Background(), key, 0, strings.Replace(first, "host:local", "host:other", 1))
	_, stderr, code = cl(t, "-c", path, "audit", "verify")
	if code != ExitError || !strings.Contains(stderr, "first bad record 1") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Fatalf("verify after tampering: %d %q", code, stderr)
	}
}

// TestAuditFailClosed: with audit.fail_closed a mutating command whose
// record cannot be written is refused and changes nothing; without it, it
// runs and warns.
func TestAuditFailClosed(t *testing.T) {
	if testing.Short() {
		t.Skip("needs redis-server")
	}
	srv := queuetest.StartRedis(t)
	url := srv.URL()
	srv.Stop() // nothing listens there now
	path := auditProject(t, url, "  fail_closed: true\n")
	before, _ := os.ReadFile(path)
	_, stderr, code := cl(t, "-c", path, "host", "update", "local", "--tag", "team=ops", "--no-commit")
	if code != ExitError || !strings.Contains(stderr, "host.update refused: its audit record cannot be written") ||
		!strings.Contains(stderr, "audit.fail_closed: false") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Fatalf("fail-closed update: %d %q", code, stderr)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("a refused command changed cl.yaml")
	}

	// Fail-open (the default): the command runs and warns once.
	os.WriteFile(path, bytes.Replace(before, []byte("  fail_closed: true\n"), nil, 1), 0o644)
	_, stderr, code = cl(t, "-c", path, "host", "update", "local", "--tag", "team=ops", "--no-commit")
	if code != 0 || !strings.Contains(stderr, "warning: audit record of host.update not written") {
		t.Fatalf("fail-open update: %d %q", code, stderr)
	}

	// With Redis back, fail-closed writes a started record and the result.
	srv.Start(t)
	os.WriteFile(path, before, 0o644)
	if _, stderr, code := cl(t, "-c", path, "host", "update", "local", "--tag", "team=dev", "--no-commit"); code != 0 {
		t.Fatalf("fail-closed update with Redis: %d %s", code, stderr)
	}
	out, _, _ := cl(t, "-c", path, "-o", "json", "audit", "logs")
	var recs []audit.Record
	_ = json.Unmarshal([]byte(out), &recs)
	if len(recs) != 2 || recs[0].Result != audit.ResultStarted || recs[1].Result != audit.ResultOK {
		t.Fatalf("fail-closed records: %s", out)
	}
}

// TestAuditRecordsNamesNotValues: a task run is recorded by task name and
// targets; its parameter values are in no record (Redis, logs, export,
// the local mirror).
func TestAuditRecordsNamesNotValues(t *testing.T) {
	if testing.Short() {
		t.Skip("needs redis-server")
	}
	f := newRedisFleet(t)
	const value = "hunter2-do-not-log"
	if _, stderr, code := cl(t, f.args("task", "run", "echo", "-p", "msg="+value, "--target", "webserver01")...); code != 0 {
		t.Fatalf("task run: %d %s", code, stderr)
	}
	out, stderr, code := cl(t, f.args("-o", "json", "audit", "logs", "--action", "task")...)
	var recs []audit.Record
	if code != 0 || json.Unmarshal([]byte(out), &recs) != nil || len(recs) != 1 {
		t.Fatalf("audit logs: %d %s %s", code, out, stderr)
	}
	if r := recs[0]; r.Action != "task.run" || strings.Join(r.Targets, " ") != "task:echo host:webserver01" || r.Result != audit.ResultOK {
		t.Fatalf("record: %+v", r)
	}
	export, _, _ := cl(t, f.args("audit", "export", "--format", "csv")...)
	mirrors, _ := filepath.Glob(filepath.Join(os.Getenv("XDG_STATE_HOME"), "celeroot", "audit", "test-t-*.jsonl"))
	if len(mirrors) == 0 {
		t.Fatal("no mirror test-t-<redis>.jsonl")
	}
	var mirror []byte
	for _, m := range mirrors { // one per Redis of the tests that ran before
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		mirror = append(mirror, b...)
	}
	q, err := queue.Open(context.Background(), f.url, queue.Namespace{Cluster: "test", Env: "t"})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	stored, err := q.AuditRecords(context.Background())
	if err != nil || len(stored) != 1 {
		t.Fatalf("stored records: %v %d", err, len(stored))
	}
	for what, s := range map[string]string{"logs": out, "export": export, "mirror": string(mirror), "redis": string(stored[0])} {
		if strings.Contains(s, value) {
			t.Errorf("the parameter value is in the audit %s:\n%s", what, s)
		}
	}
}
