package agent

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/drift"
	"github.com/celeroot/celeroot/queue/queuetest"
)

// The agent's alerts judge its last drift report and apply: an unreachable
// host and a failed apply reach a webhook receiver once each — also when
// cl.yaml names the webhook by a secret reference, which the agent resolves
// through secrets.provider.
func TestAgentAlertsOnHostDownAndFailedApply(t *testing.T) {
	t.Run("url", func(t *testing.T) { testAgentAlerts(t, false) })
	t.Run("secret reference", func(t *testing.T) { testAgentAlerts(t, true) })
}

func testAgentAlerts(t *testing.T, viaSecret bool) {
	q := queuetest.Opener(queuetest.StartRedis(t).URL())(t)
	var mu sync.Mutex
	keys := map[string]int{}
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n struct{ Key string }
		_ = json.NewDecoder(r.Body).Decode(&n)
		mu.Lock()
		keys[n.Key]++
		mu.Unlock()
	}))
	defer recv.Close()
	cfg := &config.Config{Cluster: config.Cluster{Name: "shop"}}
	cfg.Monitoring.AlertChannels = []config.AlertChannel{{Webhook: recv.URL + "/alerts"}}
	if viaSecret {
		t.Setenv("AGT_SECRET_alerts", `{"webhook":"`+recv.URL+`/alerts"}`)
		cfg.Secrets = config.Secrets{Provider: "env", Path: "AGT_SECRET_"}
		cfg.Monitoring.AlertChannels = []config.AlertChannel{{Webhook: "${secret:alerts#webhook}"}}
	}
	cfg.Monitoring.AlertCooldown = config.Duration(time.Hour)
	st := NewStatus("repo", "main")
	st.drifted(&drift.Report{Hosts: []drift.HostReport{
		{Host: "web1", State: drift.StateInSync},
		{Host: "web2", State: drift.StateUnknown, Findings: []drift.Finding{{Kind: drift.KindUnreachable, Class: drift.ClassUnknown}}},
	}}, nil)
	st.lastApply = &ApplyEvent{Event: Event{SHA: "abc", Result: "error", Error: "apply failed: web1: health"}}
	al := NewAlerts(cfg, q, nil, st, nil)
	if al == nil {
		t.Fatal("no alerts with a webhook channel")
	}
	defer al.Manager.Close()
	ctx := context.Background()
	al.Evaluate(ctx)
	al.Evaluate(ctx)
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		done := keys["host_down:web2"] == 1 && keys["apply_failed"] == 1
		mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("received %v", keys)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(keys) != 2 || keys["host_down:web2"] != 1 || keys["apply_failed"] != 1 {
		t.Errorf("received %v: want each once", keys)
	}
}
