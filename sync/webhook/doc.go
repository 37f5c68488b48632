// Package webhook receives push notifications from git hosts and turns them
// into "fetch now" signals for the agent's sync loop. It owns the HTTP side
// of webhooks: the routes, signature and token checks, replay protection,
// the body size limit, a per-client rate limit, the delivery ledger, and the
// limits of the HTTP server the agent serves them on.
//
// It does not own git. A delivery is only a hint: the receiver never reads a
// commit SHA from a payload and never fetches; the sync loop fetches and
// reads the new head from git itself. A forged or mistaken hint therefore
// costs at most one fetch (and a forged one is refused before that).
//
// # Routes
//
// A Receiver is an http.Handler for POST /hooks/<provider>:
//
//	/hooks/github   X-Hub-Signature-256: sha256=<hex HMAC-SHA256(body)>
//	                (a request with only the SHA-1 X-Hub-Signature is refused)
//	/hooks/gitlab   X-Gitlab-Token: <the secret>
//	/hooks/gitea    X-Gitea-Signature: <hex HMAC-SHA256(body)>
//	/hooks/generic  Standard Webhooks: webhook-id, webhook-timestamp,
//	                webhook-signature: v1,<base64 HMAC-SHA256(id.timestamp.body)>
//
// A provider without a secret answers 404. Every comparison of a signature
// or token is constant-time. A request is handled in this order, and each
// step's refusal is final:
//
//  1. the client is over its token bucket → 429 with Retry-After (rate_limited)
//  2. not POST → 405 (recorded bad_request)
//  3. the body is over the limit (3 MiB), by Content-Length or while
//     reading → 413 (too_large); no HMAC is computed for it
//  4. the signature or token is missing or wrong → 401 (bad_signature)
//  5. generic only: the timestamp is more than 5 minutes off, or the id was
//     accepted before → 401 (replay)
//  6. the event: a ping → 200 (ping); not a push → 202 (ignored); a push
//     whose payload names another ref → 202 (other_branch); an unreadable
//     payload → 400 (bad_request)
//  7. a push to the tracked branch → 202: accepted when it signalled a
//     fetch, coalesced when a fetch was already pending.
//
// # Coalescing
//
// Fetch returns a channel with room for one signal. Any number of pushes
// that arrive before the sync loop takes the signal share one fetch; the
// loop takes the signal before it fetches, so a push that arrives during a
// fetch signals the next one and no push is missed.
//
// # Ledger
//
// The Ledger keeps the last deliveries (time, provider, id, event, branch,
// outcome, status, a one-sentence detail, client address) for the status
// API, counts every delivery by outcome for metrics, and logs each one
// through the Receiver's slog.Logger. It answers "the webhook returned 202
// and nothing happened: why?" — other_branch, coalesced, ignored. Neither
// the ledger nor the log ever holds a secret or a body; Secret prints as
// [redacted] wherever it ends up.
//
// The ledger lives in memory. Ledger.OnAdd hands each recorded delivery to
// a keeper (the agent writes them to Redis, off the request path), and
// Ledger.Restore puts the ones kept before a restart back.
//
// # Server
//
// NewServer sets header, read, write and idle timeouts and a header size
// limit. TLS is terminated by a reverse proxy in front of the agent;
// Config.TrustedProxies lets the rate limit count the client the proxy
// names in X-Forwarded-For instead of the proxy itself.
package webhook
