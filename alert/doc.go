// Package alert raises the alerts of monitoring.metrics and the built-in
// conditions (a host down, drift, a failed apply) through
// monitoring.alert_channels: email over SMTP, Slack incoming webhooks and
// generic JSON webhooks.
//
// Conditions (Evaluate) are computed from plain facts the agent gathers
// (Facts: the metrics of package observe, the last drift report, the last
// apply). A Manager turns the set of conditions firing at each evaluation
// into notices: one "firing" notice when a condition starts (de-duplicated
// by its key), again only after the cool-down while it keeps firing, and
// one "resolved" notice when it stops. Each channel has its own sender
// goroutine with a bounded queue and retries with backoff, so a slow or
// dead channel delays only itself and never the agent; its failures are
// counted and logged (Manager.Stats).
//
// State lives in the agent's memory: a new leading agent starts with no
// alert active, so a condition still firing is sent once more.
package alert
