package alert

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/config"
)

// TestChannelsResolveReferencesAtSend: webhook URLs given as secret
// references are resolved at each send through the expander (so a rotated
// value is used without rebuilding the channels); names show the reference,
// and a failed resolution fails the send naming the secret only.
func TestChannelsResolveReferencesAtSend(t *testing.T) {
	slack := startSlack(t)
	hook := slack.srv.URL + "/services/T0/B0/secret"
	calls := 0
	x := func(_ context.Context, s string) (string, error) {
		calls++
		switch s {
		case "${secret:slack#url}":
			return hook, nil
		case "${secret:gone}":
			return "", errors.New("secret gone: secret not found")
		}
		return s, nil
	}
	mon := config.Monitoring{SlackWebhookURL: "${secret:slack#url}",
		AlertChannels: []config.AlertChannel{{Slack: "#ops"}, {Webhook: "${secret:gone}"}}}
	chs, skipped := Channels(mon, nil, x)
	if len(chs) != 2 || len(skipped) != 0 {
		t.Fatalf("channels %d, skipped %v", len(chs), skipped)
	}
	if n := chs[1].Name(); n != "webhook:${secret:gone}" {
		t.Errorf("name %q: want the reference as written", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n := Notice{Cluster: "shop", Key: "k", Summary: "s", At: time.Now(), Since: time.Now()}
	for range 2 {
		if err := chs[0].Send(ctx, n); err != nil {
			t.Fatalf("slack send: %v", err)
		}
	}
	if got := len(slack.all()); got != 2 || calls != 2 {
		t.Errorf("slack got %d messages after %d resolutions; want 2 and 2 (one per send)", got, calls)
	}
	err := chs[1].Send(ctx, n)
	if err == nil || !strings.Contains(err.Error(), "secret gone") || strings.Contains(err.Error(), "/B0/") {
		t.Errorf("webhook with a missing secret: %v", err)
	}
	// Without an expander a reference is an error, never posted as a URL.
	chs, _ = Channels(config.Monitoring{AlertChannels: []config.AlertChannel{{Webhook: "${secret:hook}"}}}, nil, nil)
	if err := chs[0].Send(ctx, n); err == nil || !strings.Contains(err.Error(), "secrets provider") {
		t.Errorf("reference without a provider: %v", err)
	}
}
