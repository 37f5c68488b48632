// Package dashboard is the web UI of `cl agent` and `cl dev`: read-only
// HTML pages over the agent's read model (agent.ReadModel), served under
// /ui/ of the agent's HTTP server.
//
// Pages: the fleet (every host with its role, tags, fleet, the SHA it runs
// against the applied and head SHAs, drift state and reason, worker slots
// and heartbeat; filters by role, tag and state; paginated), a host (facts,
// releases kept, findings, recent runs), the applies (pending plan with
// reasons, history with per-host outcomes, bad SHAs, commit subject,
// author and signature), the webhook deliveries, the tasks (queues,
// running and finished runs, schedules with next and last fires and their
// per-host results, the beat leader) and a run (its state, timings, exit
// code and live log over server-sent events).
//
// Everything is rendered by html/template from embedded files: no CDN, no
// JavaScript framework. app.js refreshes a page's live part every second
// (it fetches the same URL with the X-CL-Partial header) and follows a
// run's log with EventSource; pages work without it, minus the updates.
//
// It owns the UI's security: GET and HEAD only (405 otherwise), a strict
// Content-Security-Policy, loopback clients only unless a bearer token is
// set (Options.Token, compared in constant time; a header, or a cookie
// set by visiting ?token=), strings from hosts and git escaped and their
// control characters shown, not sent to the terminal or browser, secret
// parameters masked.
//
// It does not own the data: everything comes through Source
// (*agent.ReadModel), and nothing here writes anywhere.
package dashboard
