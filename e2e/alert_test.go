package e2e

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAlertQueueSize: the agent (a real cl agent process) evaluates
// monitoring.metrics every second. Runs queued for a host whose worker is
// not deployed yet pass queue_size → exactly one FIRING notice reaches a
// real SMTP server (go-smtp), a local Slack incoming-webhook receiver and a
// generic webhook; once cl apply deploys the worker and it drains the
// queue, exactly one RESOLVED notice reaches each. A fourth channel that
// always answers 500 is retried, counted on /metrics and logged, and never
// holds the others back.
func TestAlertQueueSize(t *testing.T) {
	CL(t) // built before the clock starts
	start := time.Now()
	mail := startMailbox(t)
	slack := startReceiver(t, "/services/T0/B0/secret", false)
	hook := startReceiver(t, "/hook", false)
	broken := startReceiver(t, "/broken", true)
	extra := fmt.Sprintf(`monitoring:
  alert_interval: 1s
  alert_cooldown: 1h
  smtp:
    address: %s
    from: cl@e2e.test
  slack_webhook_url: %s/services/T0/B0/secret
  alert_channels:
    - email: ops@e2e.test
    - slack: "#alerts"
    - webhook: %s/hook
    - webhook: %s/broken
  metrics:
    - name: queue_size
      threshold: 3
`, mail.addr, slack.url(), hook.url(), broken.url())
	d := newDeployFleet(t, 1, extra)
	ctx := ctxFor(t, 3*time.Minute)
	h := d.f.Hosts[0]
	loadChecks(t, d)

	// The agent does not apply by itself: the runs stay queued until cl
	// apply deploys the worker.
	agent := startBG(t, "agent", exec.CommandContext(ctx, CL(t), "agent", "--repo", d.dir, "--branch", "main",
		"--listen", "127.0.0.1:0", "--state-dir", filepath.Join(t.TempDir(), "agent"), "--interval", "1h",
		"--drift-interval", "0", "--no-auto-apply"))
	api := agent.api(t)
	queueName := "host:" + h.Name
	key := "queue_size:" + queueName
	for i := range 4 {
		if out, stderr, code := d.cl(ctx, "task", "run", "hello", "--target", h.Name); code != 0 {
			t.Fatalf("task run %d: exit %d\n%s%s", i, code, out, stderr)
		}
	}
	queued := time.Now()
	waitUntil(t, 20*time.Second, "the FIRING notice on email, Slack and the webhook", func() bool {
		return len(mail.all()) >= 1 && len(slack.all()) >= 1 && len(hook.all()) >= 1
	})
	t.Logf("fired %s after 4 runs were queued (%s into the test)", time.Since(queued).Round(time.Millisecond), time.Since(start).Round(time.Millisecond))

	if out, stderr, code := d.cl(ctx, "apply", "--auto-approve"); code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, out, stderr)
	}
	applied := time.Now()
	waitUntil(t, 60*time.Second, "the RESOLVED notice on email, Slack and the webhook", func() bool {
		return len(mail.all()) >= 2 && len(slack.all()) >= 2 && len(hook.all()) >= 2
	})
	t.Logf("resolved %s after the apply", time.Since(applied).Round(time.Millisecond))
	metrics := "http://" + api + "/metrics"
	brokenFailed := func() float64 {
		for k, v := range scrape(t, metrics, "cl_alert_notices_total") {
			if strings.Contains(k, `channel="webhook:`) && strings.Contains(k, `result="failed"`) && v > 0 {
				return v
			}
		}
		return 0
	}
	// The broken channel tries each notice for 1+2+4+8 s: it is still on
	// them, and neither the other channels nor the agent waited for it.
	if n := brokenFailed(); n >= 2 {
		t.Errorf("the broken channel had given up %v notices before the others got the resolved one", n)
	}
	asked := time.Now()
	if st := scrape(t, metrics, "go_goroutines"); len(st) == 0 || time.Since(asked) > 2*time.Second {
		t.Errorf("the agent answered /metrics in %s while a channel was failing (%v)", time.Since(asked), st)
	}
	// Evaluations go on every second: nothing more may arrive.
	time.Sleep(3 * time.Second)

	mails, msgs, posts := mail.all(), slack.all(), hook.all()
	if len(mails) != 2 || len(msgs) != 2 || len(posts) != 2 {
		t.Fatalf("want exactly one FIRING and one RESOLVED per channel; mails %d, slack %d, webhook %d:\n%v\n%v\n%v", len(mails), len(msgs), len(posts), mails, msgs, posts)
	}
	for i, want := range []string{"FIRING: queue " + queueName + " holds 4 tasks, above 3", "RESOLVED: queue " + queueName + " holds"} {
		subject := "Subject: [celeroot e2e] " + want
		if !strings.Contains(mails[i], "To-Envelope: ops@e2e.test") || !strings.Contains(mails[i], subject) {
			t.Errorf("mail %d lacks %q:\n%s", i, subject, mails[i])
		}
		if text, _ := msgs[i]["text"].(string); msgs[i]["channel"] != "#alerts" || !strings.Contains(text, "[celeroot e2e] "+want) {
			t.Errorf("slack message %d: %v, want %q in #alerts", i, msgs[i], want)
		}
		if posts[i]["key"] != key || posts[i]["cluster"] != "e2e" || posts[i]["resolved"] != (i == 1) {
			t.Errorf("webhook notice %d: %v, want key %s resolved %v", i, posts[i], key, i == 1)
		}
	}

	// The broken channel: retried with backoff, then given up and
	// reported; the others were not held back by it (they had both
	// notices while it was still trying).
	if n := broken.tries.Load(); n < 2 {
		t.Errorf("the broken channel was tried %d times, want retries", n)
	}
	waitUntil(t, 40*time.Second, "the broken channel's notice given up and counted", func() bool { return brokenFailed() >= 1 })
	var sent, errs float64
	for k, v := range scrape(t, metrics, "cl_alert_") {
		switch {
		case strings.HasPrefix(k, "cl_alert_notices_total") && strings.Contains(k, `result="sent"`):
			sent += v
		case strings.HasPrefix(k, "cl_alert_send_errors_total"):
			errs += v
		}
		if strings.Contains(k, "/broken") || strings.Contains(k, "/hook") || strings.Contains(k, "secret") {
			t.Errorf("a webhook path (its secret) is in /metrics: %s", k)
		}
	}
	if sent != 6 || errs < 5 {
		t.Errorf("/metrics: %v notices sent (want 6: 2 × email, Slack, webhook), %v send errors (want ≥ 5: every try of the broken channel)", sent, errs)
	}
	if out := agent.output(); !strings.Contains(out, "alert channel failed") || !strings.Contains(out, "alert not delivered") || strings.Contains(out, "/broken") {
		t.Errorf("the agent's log does not report the broken channel (path masked):\n%s", out)
	}
	t.Logf("done after %s", time.Since(start).Round(time.Millisecond))
}
