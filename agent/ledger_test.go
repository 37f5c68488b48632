package agent

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/queue/queuetest"
	"github.com/celeroot/celeroot/sync/webhook"
)

// TestWebhookLedgerSurvivesRestart: deliveries answered by one agent
// process are written to Redis; the next process (a new receiver, a new
// ledger) shows them, newest first, capped at the ledger's size, cleaned,
// and without a secret or a body.
func TestWebhookLedgerSurvivesRestart(t *testing.T) {
	q := queuetest.Opener(queuetest.StartRedis(t).URL())(t)
	const keep, secret = 5, "a-webhook-secret-for-the-test"
	log := slog.New(slog.DiscardHandler)
	start := func() (*webhook.Receiver, *ledgerKeeper, context.CancelFunc) {
		t.Helper()
		rcv, err := webhook.New(webhook.Config{Branch: "main", GitHub: webhook.NewSecret(secret), LedgerSize: keep, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		ctx, stop := context.WithCancel(context.Background())
		return rcv, keepLedger(ctx, rcv.Ledger(), q, keep, log), stop
	}
	post := func(rcv *webhook.Receiver, id, branch string) int {
		body := fmt.Sprintf(`{"ref":"refs/heads/%s","secret_in_body":"body-never-kept"}`, branch)
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(body))
		req := httptest.NewRequest(http.MethodPost, "/hooks/github", strings.NewReader(body))
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-GitHub-Delivery", id)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
		rec := httptest.NewRecorder()
		rcv.ServeHTTP(rec, req)
		return rec.Code
	}

	rcv, keeper, stop := start()
	for i := range 6 {
		if code := post(rcv, fmt.Sprintf("d-%d", i), "main"); code != http.StatusAccepted {
			t.Fatalf("delivery %d: %d", i, code)
		}
		time.Sleep(2 * time.Millisecond) // distinct times
	}
	post(rcv, "d-<script>\x1b[31m", "other")
	stop() // the agent stops: what is queued is written before Wait returns
	keeper.Wait()
	if n := keeper.Unsaved(); n != 0 {
		t.Fatalf("%d deliveries not written", n)
	}
	before := rcv.Ledger().Snapshot()

	rcv2, keeper2, stop2 := start() // the restart
	defer func() { stop2(); keeper2.Wait() }()
	rm := &ReadModel{Deliveries: rcv2.Ledger().Snapshot}
	got, ok := rm.WebhookDeliveries()
	if !ok || len(got) != keep {
		t.Fatalf("after a restart: %d deliveries (ok %v), want the last %d", len(got), ok, keep)
	}
	for i, d := range got {
		b := before[i]
		same := d.Time.Equal(b.Time)
		d.Time, b.Time = time.Time{}, time.Time{}
		if !same || d != b {
			t.Errorf("delivery %d after the restart: %+v, want %+v", i, d, before[i])
		}
	}
	if got[0].ID != "d-<script>?[31m" || got[0].Outcome != webhook.OutcomeOtherBranch || got[1].ID != "d-5" || got[4].ID != "d-2" {
		t.Errorf("after a restart, newest first: %s %s … %s, want d-<script>?[31m (other_branch), d-5 … d-2", got[0].ID, got[1].ID, got[4].ID)
	}
	if c := rcv2.Ledger().Counts(); c[webhook.OutcomeAccepted]+c[webhook.OutcomeCoalesced] != 0 {
		t.Errorf("restored deliveries counted again in the new process: %v", c)
	}
	raw, err := q.Deliveries(context.Background(), 100)
	if err != nil || len(raw) != keep {
		t.Fatalf("redis keeps %d records (%v), want %d", len(raw), err, keep)
	}
	for _, r := range raw {
		if strings.Contains(string(r), "body-never-kept") || strings.Contains(string(r), secret) {
			t.Fatalf("a record holds the body or the secret: %s", r)
		}
	}

	// A new delivery goes before the restored ones, in memory and in Redis.
	post(rcv2, "d-after", "main")
	if got, _ := rm.WebhookDeliveries(); got[0].ID != "d-after" || got[1].ID != before[0].ID || len(got) != keep {
		t.Errorf("after one more delivery: %+v", got)
	}
}

// failingStore is a DeliveryStore whose Redis is down.
type failingStore struct{}

func (failingStore) AppendDeliveries(context.Context, [][]byte, int) error {
	return errors.New("redis down")
}
func (failingStore) Deliveries(context.Context, int) ([][]byte, error) {
	return nil, errors.New("redis down")
}

// TestWebhookLedgerWithoutRedis: Redis down never touches the answer; the
// deliveries stay in memory and are counted unsaved.
func TestWebhookLedgerWithoutRedis(t *testing.T) {
	l := webhook.NewLedger(10, nil)
	ctx, stop := context.WithCancel(context.Background())
	k := keepLedger(ctx, l, failingStore{}, 10, slog.New(slog.DiscardHandler))
	l.Add(webhook.Delivery{ID: "one", Outcome: webhook.OutcomeAccepted})
	l.Add(webhook.Delivery{ID: "two", Outcome: webhook.OutcomeAccepted})
	stop()
	k.Wait()
	if k.Unsaved() != 2 || len(l.Snapshot()) != 2 {
		t.Fatalf("unsaved %d, kept %d; want 2, 2", k.Unsaved(), len(l.Snapshot()))
	}
}
