package webhook

import (
	"context"
	"log/slog"
	"slices"
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
	onAdd  func(Delivery)
}

// NewLedger returns a ledger keeping the last size deliveries (at least 1)
// and logging each one to log (nil: not logged).
func NewLedger(size int, log *slog.Logger) *Ledger {
	if size < 1 {
		size = 1
	}
	return &Ledger{ring: make([]Delivery, size), counts: make(map[Outcome]uint64, len(Outcomes)), log: log}
}

// OnAdd sets fn to be called with every delivery Add records, as kept
// (clipped), on the goroutine that answers the request: fn must not block
// (the agent hands it to a bounded queue for Redis). Set it before the
// ledger is in use.
func (l *Ledger) OnAdd(fn func(Delivery)) {
	l.mu.Lock()
	l.onAdd = fn
	l.mu.Unlock()
}

// Add records d and logs it: refusals at Warn (rate-limited ones at Debug,
// so a flood does not flood the log), the others at Info.
func (l *Ledger) Add(d Delivery) {
	d = clipped(d)
	l.mu.Lock()
	l.put(d)
	l.counts[d.Outcome]++
	onAdd := l.onAdd
	l.mu.Unlock()
	if onAdd != nil {
		onAdd(d)
	}
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

// put stores d in the ring, over the oldest when it is full; l.mu is held.
func (l *Ledger) put(d Delivery) {
	l.ring[l.next] = d
	l.next++
	if l.next == len(l.ring) {
		l.next, l.full = 0, true
	}
}

// Restore puts deliveries recorded earlier (newest first, e.g. read back
// from Redis after a restart) behind the ones the ledger holds, as many as
// fit. They are clipped as Add clips, but not counted, logged or passed to
// OnAdd: they were when they arrived. One with an unknown provider or
// outcome is left out.
func (l *Ledger) Restore(older []Delivery) {
	l.mu.Lock()
	defer l.mu.Unlock()
	kept := l.snapshot()
	all := kept
	for _, d := range older {
		if slices.Contains(Providers, d.Provider) && slices.Contains(Outcomes, d.Outcome) {
			all = append(all, d)
		}
	}
	clear(l.ring)
	l.next, l.full = 0, false
	for i := min(len(all), len(l.ring)) - 1; i >= 0; i-- {
		d := all[i]
		if i >= len(kept) {
			d = clipped(d)
		}
		l.put(d)
	}
}

// Snapshot returns the kept deliveries, newest first.
func (l *Ledger) Snapshot() []Delivery {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.snapshot()
}

// snapshot is Snapshot with l.mu held.
func (l *Ledger) snapshot() []Delivery {
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

// clipped returns d with the fields a client or a stored record supplied
// clipped.
func clipped(d Delivery) Delivery {
	d.ID, d.Event, d.Branch = clip(d.ID), clip(d.Event), clip(d.Branch)
	d.Remote, d.Detail = clip(d.Remote), clipN(d.Detail, maxDetail)
	return d
}

// maxField is how many bytes of a header-supplied field the ledger keeps;
// maxDetail, of a detail (which quotes such fields).
const maxField, maxDetail = 128, 512

// clip shortens s to maxField bytes and replaces control characters and
// invalid UTF-8, so header values a client chose cannot forge log lines.
func clip(s string) string { return clipN(s, maxField) }

// clipN is clip to n bytes.
func clipN(s string, n int) string {
	if len(s) > n {
		s = s[:n]
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
