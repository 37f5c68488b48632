package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/audit"
	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/queue"
)

const secretScript = `#!/bin/sh
echo "token=$CL_PARAM_TOKEN db=$DB_PASSWORD"
echo "stdin=$(cat)"
echo "on stderr: $CL_PARAM_TOKEN" >&2
printf '%s' "$CL_PARAM_TOKEN" | sha256sum | cut -d' ' -f1 > "$CL_PARAM_OUT"
echo "literal=$CL_PARAM_LITERAL"
`

// TestSecretReferencesResolvedAndMasked: a run's ${secret:…} params and
// env values reach the task resolved (its hash of the value matches), its
// output shows *** instead, the run record on Redis keeps the reference,
// and the audit trail names the secrets without their values.
func TestSecretReferencesResolvedAndMasked(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	const token, dbpw = "tok-Zq81-planted", "db-pw-Xk22"
	t.Setenv("WT_SECRET_API_TOKEN", token)
	t.Setenv("WT_SECRET_DB", `{"password":"`+dbpw+`"}`)
	f := newFixture(t, roleOpts{})
	add := func(name, text string) {
		p := filepath.Join(f.dir, name)
		b, _ := os.ReadFile(p)
		if err := os.WriteFile(p, append(b, text...), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	add("cl.yaml", "secrets:\n  provider: env\n  path: WT_SECRET_\n")
	add("tasks/t.yaml", "  secret:\n    params:\n      token: {type: string, required: true}\n      out: {type: string, required: true}\n      literal: {type: string, default: \"\"}\n    env: {DB_PASSWORD: \"${secret:DB#password}\"}\n    script: t/secret.sh\n")
	if err := os.WriteFile(filepath.Join(f.dir, "tasks/t/secret.sh"), []byte(secretScript), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.LoadValid(config.Options{Path: filepath.Join(f.dir, "cl.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	f.cfg = cfg
	f.start(nil)
	out := filepath.Join(t.TempDir(), "hash")
	id := f.enqueue("secret", "t", map[string]any{"token": "${secret:API_TOKEN}", "out": out, "literal": "$${secret:API_TOKEN}"}, nil)
	missing := f.enqueue("secret", "t", map[string]any{"token": "${secret:NOPE}", "out": out + "2"}, nil)
	bad := f.enqueue("secret", "t", map[string]any{"token": "${secret:API_TOKEN", "out": out + "3"}, nil)
	runs := f.wait(15*time.Second, id, missing, bad)
	if runs[0].State != queue.StateSucceeded {
		t.Fatalf("run: %s %s\n%s", runs[0].State, runs[0].Reason, f.logText(id))
	}
	sum := sha256.Sum256([]byte(token))
	if b, _ := os.ReadFile(out); strings.TrimSpace(string(b)) != hex.EncodeToString(sum[:]) {
		t.Errorf("the task's hash of the token: %q", b)
	}
	log := f.logText(id)
	for _, want := range []string{"stdout: token=*** db=***\n", `"token":"***"`, "stderr: on stderr: ***\n", "stdout: literal=${secret:API_TOKEN}\n"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, token) || strings.Contains(log, dbpw) {
		t.Errorf("log holds a secret:\n%s", log)
	}
	if r, _ := f.q.Get(context.Background(), id); r.Params["token"] != "${secret:API_TOKEN}" {
		t.Errorf("the run record holds %v, want the reference", r.Params["token"])
	}
	for i, want := range []string{"API", "bad secret reference"} {
		r := runs[i+1]
		if r.State != queue.StateFailed || !strings.Contains(r.Reason, "secret") {
			t.Errorf("run %s: %s %q (want failed naming the %s)", r.ID, r.State, r.Reason, want)
		}
	}
	if _, err := os.Stat(out + "2"); err == nil {
		t.Error("a run whose secret is missing started")
	}
	trail, err := audit.ForConfig(f.cfg, "", f.q, false)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := trail.Records(context.Background())
	if err != nil || len(recs) != 1 {
		t.Fatalf("audit records: %v %v", recs, err)
	}
	rec := recs[0]
	if rec.Action != "secret.resolve" || rec.Actor.Via != "worker" || strings.Join(rec.Targets, " ") != "API_TOKEN DB#password run:"+id {
		t.Errorf("audit record %+v", rec)
	}
}

// TestSecretRunRefusedWhenFailClosedAuditFails: with audit.fail_closed a
// run whose secret.resolve record cannot be written is refused before its
// process starts (the task never gets the value); without it the run goes
// on with a warning.
func TestSecretRunRefusedWhenFailClosedAuditFails(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	t.Setenv("WF_SECRET_TOKEN", "tok-planted-Fc1")
	for _, failClosed := range []bool{true, false} {
		f := newFixture(t, roleOpts{})
		p := filepath.Join(f.dir, "cl.yaml")
		b, _ := os.ReadFile(p)
		// The mirror's directory is a file: every append fails.
		extra := fmt.Sprintf("secrets:\n  provider: env\n  path: WF_SECRET_\naudit:\n  fail_closed: %v\n  file: /dev/null/audit.jsonl\n", failClosed)
		if err := os.WriteFile(p, append(b, extra...), 0o644); err != nil {
			t.Fatal(err)
		}
		mod := filepath.Join(f.dir, "tasks/t.yaml")
		mb, _ := os.ReadFile(mod)
		if err := os.WriteFile(mod, append(mb, "  touch:\n    params:\n      token: {type: string, required: true}\n      out: {type: string, required: true}\n    command: [\"/bin/sh\", \"-c\", \"touch \\\"$CL_PARAM_OUT\\\"\"]\n"...), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, _, err := config.LoadValid(config.Options{Path: p})
		if err != nil {
			t.Fatal(err)
		}
		f.cfg = cfg
		f.start(nil)
		out := filepath.Join(t.TempDir(), "ran")
		id := f.enqueue("touch", "t", map[string]any{"token": "${secret:TOKEN}", "out": out}, nil)
		r := f.wait(15*time.Second, id)[0]
		_, ranErr := os.Stat(out)
		switch {
		case failClosed && (r.State != queue.StateFailed || !strings.Contains(r.Reason, "audit.fail_closed") || ranErr == nil):
			t.Errorf("fail-closed: %s %q, ran=%v; want refused before the process", r.State, r.Reason, ranErr == nil)
		case !failClosed && (r.State != queue.StateSucceeded || ranErr != nil):
			t.Errorf("not fail-closed: %s %q, ran=%v; want the run to go on", r.State, r.Reason, ranErr == nil)
		}
		if strings.Contains(r.Reason+f.logText(id), "tok-planted") {
			t.Errorf("the value leaked: %q", r.Reason)
		}
	}
}
