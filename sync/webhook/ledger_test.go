package webhook

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestLedgerKeepsTheLastN(t *testing.T) {
	l := NewLedger(3, nil)
	if got := l.Snapshot(); len(got) != 0 {
		t.Fatalf("new ledger: %v, want empty", got)
	}
	for i := range 5 {
		l.Add(Delivery{Time: t0.Add(time.Duration(i) * time.Second), ID: strconv.Itoa(i), Outcome: OutcomeAccepted})
	}
	l.Add(Delivery{ID: "5", Outcome: OutcomeBadSignature})
	var ids []string
	for _, d := range l.Snapshot() {
		ids = append(ids, d.ID)
	}
	if strings.Join(ids, ",") != "5,4,3" {
		t.Fatalf("snapshot ids %v, want the last 3 newest first: 5,4,3", ids)
	}
	c := l.Counts()
	if c[OutcomeAccepted] != 5 || c[OutcomeBadSignature] != 1 || len(c) != len(Outcomes) {
		t.Fatalf("counts %v, want 5 accepted, 1 bad_signature, a key for each of %d outcomes", c, len(Outcomes))
	}
}

func TestLedgerLogs(t *testing.T) {
	var buf bytes.Buffer
	l := NewLedger(10, slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	l.Add(Delivery{Provider: GitHub, ID: "a\nforged=line", Event: "push", Branch: "main", Outcome: OutcomeAccepted, Status: 202, Remote: "192.0.2.1"})
	l.Add(Delivery{Provider: GitHub, Outcome: OutcomeBadSignature, Status: 401, Detail: "nope"})
	l.Add(Delivery{Provider: GitHub, Outcome: OutcomeRateLimited, Status: 429}) // Debug: not shown at Info
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 log lines (rate-limited at Debug), got %d:\n%s", len(lines), buf.String())
	}
	var first, second map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil {
		t.Fatal(err)
	}
	if first["level"] != "INFO" || first["id"] != "a?forged=line" || first["outcome"] != "accepted" || first["branch"] != "main" {
		t.Errorf("accepted delivery logged as %v", first)
	}
	if second["level"] != "WARN" || second["detail"] != "nope" {
		t.Errorf("refused delivery logged as %v, want WARN with its detail", second)
	}
	if got := l.Snapshot()[2].ID; got != "a?forged=line" {
		t.Errorf("ledger kept id %q, want control characters replaced", got)
	}
}

func TestClip(t *testing.T) {
	tests := []struct{ in, want string }{
		{"push", "push"},
		{"Push Hook", "Push Hook"},
		{"a\r\nb\x7f", "a??b?"},
		{"bad\xffutf8", "bad?utf8"},
		{strings.Repeat("x", 300), strings.Repeat("x", maxField)},
	}
	for _, tt := range tests {
		if got := clip(tt.in); got != tt.want {
			t.Errorf("clip(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestOutcomePredicates(t *testing.T) {
	for _, o := range Outcomes {
		if o.Triggered() && o.Refused() {
			t.Errorf("%s is both triggered and refused", o)
		}
	}
	if !OutcomeCoalesced.Triggered() || OutcomeOtherBranch.Triggered() || !OutcomeReplay.Refused() || OutcomePing.Refused() {
		t.Error("predicates disagree with the outcome table")
	}
}

func TestLedgerOnAddAndRestore(t *testing.T) {
	l := NewLedger(4, nil)
	var seen []Delivery
	l.OnAdd(func(d Delivery) { seen = append(seen, d) })
	l.Add(Delivery{Time: t0.Add(10 * time.Second), ID: "new\x1b[31m", Outcome: OutcomeAccepted})
	if len(seen) != 1 || seen[0].ID != "new?[31m" {
		t.Fatalf("OnAdd saw %+v, want the delivery as kept (clipped)", seen)
	}
	// Deliveries of an earlier process (newest first) go behind the new
	// one, as many as fit; they are cleaned, not counted, not handed on;
	// records naming no known provider or outcome are left out.
	var older []Delivery
	for i := 5; i >= 1; i-- {
		older = append(older, Delivery{Time: t0.Add(time.Duration(i) * time.Second), ID: "old" + strconv.Itoa(i), Provider: GitHub,
			Outcome: OutcomeOtherBranch, Branch: strings.Repeat("b", 300), Detail: "x\ny"})
		if i == 4 {
			older = append(older, Delivery{ID: "forged", Provider: "<b>", Outcome: OutcomeAccepted},
				Delivery{ID: "forged", Provider: Gitea, Outcome: "<b>"})
		}
	}
	l.Restore(older)
	var ids []string
	for _, d := range l.Snapshot() {
		ids = append(ids, d.ID)
	}
	if strings.Join(ids, ",") != "new?[31m,old5,old4,old3" {
		t.Fatalf("after restore: %v, want the new delivery, then the 3 newest restored", ids)
	}
	if d := l.Snapshot()[1]; len(d.Branch) != maxField || d.Detail != "x?y" {
		t.Errorf("restored delivery not clipped: branch %d bytes, detail %q", len(d.Branch), d.Detail)
	}
	if c := l.Counts(); c[OutcomeOtherBranch] != 0 || c[OutcomeAccepted] != 1 || len(seen) != 1 {
		t.Errorf("restore counted (%v) or handed on (%d) deliveries", c, len(seen))
	}
	// New deliveries push the oldest out, as before.
	l.Add(Delivery{ID: "newer", Outcome: OutcomeAccepted})
	if got := l.Snapshot(); len(got) != 4 || got[0].ID != "newer" || got[3].ID != "old4" {
		t.Errorf("after one more: %+v", got)
	}
}
