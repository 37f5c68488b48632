package webhook

import (
	"context"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"
)

// Provider names the kind of git host a delivery came from; it is the last
// element of the path the delivery was posted to (/hooks/<provider>).
type Provider string

// The providers, one route each.
const (
	GitHub  Provider = "github"
	GitLab  Provider = "gitlab"
	Gitea   Provider = "gitea"
	Generic Provider = "generic"
)

// Providers lists every provider in route order.
var Providers = []Provider{GitHub, GitLab, Gitea, Generic}

// Outcome is what the receiver did with one delivery.
type Outcome string

// The outcomes. Only OutcomeAccepted asks for a fetch; OutcomeCoalesced
// found one already pending.
const (
	OutcomeAccepted     Outcome = "accepted"      // signed push to the tracked branch: a fetch was signalled
	OutcomeCoalesced    Outcome = "coalesced"     // as accepted, but a fetch was already pending
	OutcomeOtherBranch  Outcome = "other_branch"  // signed push to another branch or a tag: nothing to do
	OutcomePing         Outcome = "ping"          // signed ping (GitHub's webhook test): answered
	OutcomeIgnored      Outcome = "ignored"       // signed event that is not a push (issues, releases...)
	OutcomeBadSignature Outcome = "bad_signature" // missing, malformed or wrong signature or token
	OutcomeRateLimited  Outcome = "rate_limited"  // the client sent more than its rate allows
	OutcomeReplay       Outcome = "replay"        // generic: id seen before, or timestamp outside the tolerance
	OutcomeTooLarge     Outcome = "too_large"     // body over the limit (3 MiB by default)
	OutcomeBadRequest   Outcome = "bad_request"   // not a POST, missing event header, unreadable payload
)

// Outcomes lists every outcome, so a metrics exporter can publish zeros.
var Outcomes = []Outcome{
	OutcomeAccepted, OutcomeCoalesced, OutcomeOtherBranch, OutcomePing, OutcomeIgnored,
	OutcomeBadSignature, OutcomeRateLimited, OutcomeReplay, OutcomeTooLarge, OutcomeBadRequest,
}

// Triggered reports whether the delivery asked for a fetch (a new one or one
// that was already pending).
func (o Outcome) Triggered() bool { return o == OutcomeAccepted || o == OutcomeCoalesced }

// Refused reports whether the delivery was answered with an error status.
func (o Outcome) Refused() bool {
	switch o {
	case OutcomeBadSignature, OutcomeRateLimited, OutcomeReplay, OutcomeTooLarge, OutcomeBadRequest:
		return true
	}
	return false
}

// Delivery is one request to a webhook route as the ledger keeps it. ID and
// Event come from the request's headers and are clipped; the body and the
// secret are never kept.
type Delivery struct {
	Time     time.Time `json:"time"`
	Provider Provider  `json:"provider"`
	ID       string    `json:"id,omitempty"`     // the provider's delivery id, when it sends one
	Event    string    `json:"event,omitempty"`  // the provider's event name (push, ping, Push Hook...)
	Branch   string    `json:"branch,omitempty"` // the branch (or ref) the payload names, once signed
	Outcome  Outcome   `json:"outcome"`
	Status   int       `json:"status"`           // the HTTP status answered
	Detail   string    `json:"detail,omitempty"` // why, in one sentence, for the refused and the ignored
	Remote   string    `json:"remote"`           // the client address the rate limit counted
}

// Ledger keeps the last deliveries and counts every delivery by outcome.
// It is safe for concurrent use.
type Ledger struct {
	mu     sync.Mutex
	ring   []Delivery
	next   int // where the next delivery goes
	full   bool
	counts map[Outcome]uint64
	log    *slog.Logger
}

// NewLedger returns a ledger keeping the last size deliveries (at least 1)
// and logging each one to log (nil: not logged).
func NewLedger(size int, log *slog.Logger) *Ledger {
	if size < 1 {
		size = 1
	}
	return &Ledger{ring: make([]Delivery, size), counts: make(map[Outcome]uint64, len(Outcomes)), log: log}
}

// Add records d and logs it: refusals at Warn (rate-limited ones at Debug,
// so a flood does not flood the log), the others at Info.
func (l *Ledger) Add(d Delivery) {
	d.ID = clip(d.ID)
	d.Event = clip(d.Event)
	d.Branch = clip(d.Branch)
	l.mu.Lock()
	l.ring[l.next] = d
	l.next++
	if l.next == len(l.ring) {
		l.next, l.full = 0, true
	}
	l.counts[d.Outcome]++
	l.mu.Unlock()
	if l.log == nil {
		return
	}
	level := slog.LevelInfo
	switch {
	case d.Outcome == OutcomeRateLimited:
		level = slog.LevelDebug
	case d.Outcome.Refused():
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.String("provider", string(d.Provider)),
		slog.String("outcome", string(d.Outcome)),
		slog.Int("status", d.Status),
		slog.String("remote", d.Remote),
	}
	for _, kv := range [][2]string{{"id", d.ID}, {"event", d.Event}, {"branch", d.Branch}, {"detail", d.Detail}} {
		if kv[1] != "" {
			attrs = append(attrs, slog.String(kv[0], kv[1]))
		}
	}
	l.log.LogAttrs(context.Background(), level, "webhook delivery", attrs...)
}

// Snapshot returns the kept deliveries, newest first.
func (l *Ledger) Snapshot() []Delivery {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.next
	if l.full {
		n = len(l.ring)
	}
	out := make([]Delivery, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, l.ring[(l.next-i+len(l.ring))%len(l.ring)])
	}
	return out
}

// Counts returns the number of deliveries by outcome since the ledger was
// made (not only the kept ones); every outcome in Outcomes has a key.
func (l *Ledger) Counts() map[Outcome]uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[Outcome]uint64, len(Outcomes))
	for _, o := range Outcomes {
		out[o] = l.counts[o]
	}
	return out
}

// maxField is how many bytes of a header-supplied field the ledger keeps.
const maxField = 128

// clip shortens s to maxField bytes and replaces control characters and
// invalid UTF-8, so header values a client chose cannot forge log lines.
func clip(s string) string {
	if len(s) > maxField {
		s = s[:maxField]
	}
	clean := true
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	b := make([]rune, 0, len(s))
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			r = '?'
		}
		b = append(b, r)
	}
	return string(b)
}
