package webhook

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults for the zero values of Config.
const (
	DefaultLedgerSize = 100
	DefaultMaxBody    = 3 << 20 // 3 MiB; GitHub caps payloads at 25 MiB but a push payload is far below
	DefaultTolerance  = 5 * time.Minute
)

// maxSeenIDs bounds the generic route's replay memory. Only deliveries whose
// signature verified are remembered, so only a holder of the secret fills it.
const maxSeenIDs = 100000

// Config configures a Receiver. Branch and at least one secret are
// required; every other zero value means its default.
type Config struct {
	// Branch is the tracked branch ("main"); a push to any other ref is
	// recorded as other_branch and fetches nothing.
	Branch string
	// The secret of each provider's route; a provider without one answers
	// 404. Generic may be given as "whsec_<base64>" (Standard Webhooks) or
	// raw.
	GitHub, GitLab, Gitea, Generic Secret
	// LedgerSize is how many deliveries the ledger keeps (DefaultLedgerSize).
	LedgerSize int
	// MaxBody is the largest body accepted, in bytes (DefaultMaxBody).
	MaxBody int64
	// Tolerance is how far a generic delivery's timestamp may be from Now
	// (DefaultTolerance).
	Tolerance time.Duration
	// RateLimit is the per-client token bucket (DefaultRate, DefaultBurst).
	RateLimit RateLimit
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names the
	// client for the rate limit and the ledger. Empty: the peer is the client.
	TrustedProxies []netip.Prefix
	// Now is the clock (time.Now).
	Now func() time.Time
	// Logger gets one line per delivery, never a secret or a body (nil:
	// slog.Default()).
	Logger *slog.Logger
}

// Receiver answers webhook deliveries on /hooks/{github,gitlab,gitea,generic}
// and signals Fetch when a signed push names the tracked branch. It is an
// http.Handler, safe for concurrent use.
type Receiver struct {
	branch    string
	secrets   map[Provider][]byte
	maxBody   int64
	tolerance time.Duration
	trusted   []netip.Prefix
	now       func() time.Time
	ledger    *Ledger
	limit     *limiter
	retry     string // Retry-After for a rate-limited client, seconds
	fetch     chan struct{}

	mu   sync.Mutex
	seen map[string]time.Time // generic delivery ids, when they were accepted
}

// New returns a Receiver for cfg.
func New(cfg Config) (*Receiver, error) {
	if cfg.Branch == "" {
		return nil, errors.New("webhook receiver: no branch to track: set the branch the agent follows (--branch)")
	}
	r := &Receiver{
		branch:    cfg.Branch,
		secrets:   make(map[Provider][]byte),
		maxBody:   cfg.MaxBody,
		tolerance: cfg.Tolerance,
		trusted:   cfg.TrustedProxies,
		now:       cfg.Now,
		limit:     newLimiter(cfg.RateLimit),
		fetch:     make(chan struct{}, 1),
		seen:      make(map[string]time.Time),
	}
	for p, s := range map[Provider]Secret{GitHub: cfg.GitHub, GitLab: cfg.GitLab, Gitea: cfg.Gitea, Generic: cfg.Generic} {
		if s.IsZero() {
			continue
		}
		key := s.b
		if p == Generic {
			if b64, ok := strings.CutPrefix(string(key), "whsec_"); ok {
				dec, err := base64.StdEncoding.DecodeString(b64)
				if err != nil || len(dec) == 0 {
					return nil, errors.New("webhook receiver: the generic secret starts with whsec_ but the rest is not base64: copy the whole secret from the sender")
				}
				key = dec
			}
		}
		r.secrets[p] = key
	}
	if len(r.secrets) == 0 {
		return nil, errors.New("webhook receiver: no provider has a secret: give at least one (--webhook-secret-file)")
	}
	if r.maxBody <= 0 {
		r.maxBody = DefaultMaxBody
	}
	if r.tolerance <= 0 {
		r.tolerance = DefaultTolerance
	}
	if r.now == nil {
		r.now = time.Now
	}
	if cfg.LedgerSize <= 0 {
		cfg.LedgerSize = DefaultLedgerSize
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	r.ledger = NewLedger(cfg.LedgerSize, log)
	if r.limit != nil {
		r.retry = strconv.Itoa(int(math.Ceil(1 / r.limit.rate)))
	}
	return r, nil
}

// Fetch delivers one value when a fetch is wanted. It has room for one: a
// delivery that finds it full is coalesced with the pending fetch. The
// consumer (the sync loop) receives before it fetches, so a push that
// arrives during a fetch asks for another.
func (r *Receiver) Fetch() <-chan struct{} { return r.fetch }

// Ledger returns the receiver's delivery ledger.
func (r *Receiver) Ledger() *Ledger { return r.ledger }

// ServeHTTP serves /hooks/<provider> (the last two path elements, so a
// prefix before /hooks is allowed); any other path is 404.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	dir, name := splitLast(req.URL.Path)
	if _, rest := splitLast(dir); rest != "hooks" {
		http.NotFound(w, req)
		return
	}
	r.serve(Provider(name), w, req)
}

// Handler returns the handler of one provider's route, for mounting on a
// path of one's own choosing.
func (r *Receiver) Handler(p Provider) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { r.serve(p, w, req) })
}

func splitLast(p string) (dir, name string) {
	p = strings.TrimSuffix(p, "/")
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "", p
	}
	return p[:i], p[i+1:]
}

func (r *Receiver) serve(p Provider, w http.ResponseWriter, req *http.Request) {
	secret, ok := r.secrets[p]
	if !ok {
		known := false
		for _, q := range Providers {
			known = known || q == p
		}
		if !known {
			http.NotFound(w, req)
			return
		}
		http.Error(w, fmt.Sprintf("webhook provider %s has no secret on this agent: configure one to use /hooks/%s", p, p), http.StatusNotFound)
		return
	}
	now := r.now()
	client := clientAddr(req, r.trusted)
	d := Delivery{Time: now, Provider: p, Remote: client.String()}
	if !client.IsValid() {
		d.Remote = req.RemoteAddr
	}
	d.ID, d.Event = headerIDs(p, req.Header)

	if !r.limit.allow(client, now) {
		w.Header().Set("Retry-After", r.retry)
		r.answer(w, d, http.StatusTooManyRequests, OutcomeRateLimited, "too many deliveries from this client: retry later")
		return
	}
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		r.answer(w, d, http.StatusMethodNotAllowed, OutcomeBadRequest, "method "+clip(req.Method)+" not allowed: webhooks are POSTed")
		return
	}
	tooLarge := fmt.Sprintf("body over %d bytes", r.maxBody)
	if req.ContentLength > r.maxBody {
		r.answer(w, d, http.StatusRequestEntityTooLarge, OutcomeTooLarge, tooLarge)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, r.maxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			r.answer(w, d, http.StatusRequestEntityTooLarge, OutcomeTooLarge, tooLarge)
			return
		}
		r.answer(w, d, http.StatusBadRequest, OutcomeBadRequest, "body could not be read: "+err.Error())
		return
	}

	var v verdict
	switch p {
	case GitHub:
		v = checkGitHub(secret, req.Header, body)
	case GitLab:
		v = checkGitLab(secret, req.Header, body)
	case Gitea:
		v = checkGitea(secret, req.Header, body)
	case Generic:
		v = checkGeneric(secret, req.Header, body, now, r.tolerance, func(id string) bool { return r.seenID(id, now) })
	}
	d.ID, d.Event = v.id, v.event
	if v.ref != "" {
		d.Branch = strings.TrimPrefix(v.ref, "refs/heads/")
	}
	switch {
	case v.outcome == OutcomePing:
		r.answer(w, d, http.StatusOK, OutcomePing, "pong: this webhook reaches the agent and its signature verifies")
	case v.outcome == OutcomeIgnored:
		r.answer(w, d, http.StatusAccepted, OutcomeIgnored, v.detail)
	case v.outcome == OutcomeBadRequest:
		r.answer(w, d, http.StatusBadRequest, v.outcome, v.detail)
	case v.outcome != "":
		r.answer(w, d, http.StatusUnauthorized, v.outcome, v.detail)
	case !v.signed:
		// Unreachable: a check that did not verify sets an outcome. Kept so
		// that an unsigned delivery can never reach the fetch below.
		r.answer(w, d, http.StatusUnauthorized, OutcomeBadSignature, "signature not verified")
	case v.ref != "" && v.ref != "refs/heads/"+r.branch:
		r.answer(w, d, http.StatusAccepted, OutcomeOtherBranch, fmt.Sprintf("push to %s, this agent tracks %s: nothing to fetch", clip(v.ref), r.branch))
	default:
		select {
		case r.fetch <- struct{}{}:
			r.answer(w, d, http.StatusAccepted, OutcomeAccepted, "fetching "+r.branch)
		default:
			r.answer(w, d, http.StatusAccepted, OutcomeCoalesced, "a fetch of "+r.branch+" is already pending")
		}
	}
}

// answer records d with its outcome and writes the answer: the outcome and
// the detail, as text.
func (r *Receiver) answer(w http.ResponseWriter, d Delivery, status int, o Outcome, detail string) {
	d.Status, d.Outcome, d.Detail = status, o, detail
	r.ledger.Add(d)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	io.WriteString(w, string(o)+": "+detail+"\n")
}

// seenID remembers a generic delivery id and reports whether it was already
// remembered. An id is forgotten after twice the tolerance: by then a
// delivery carrying it fails the timestamp check anyway.
func (r *Receiver) seenID(id string, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if at, ok := r.seen[id]; ok && now.Sub(at) <= 2*r.tolerance {
		return true
	}
	if len(r.seen) >= maxSeenIDs {
		for k, at := range r.seen {
			if now.Sub(at) > 2*r.tolerance {
				delete(r.seen, k)
			}
		}
	}
	r.seen[id] = now
	return false
}

// The HTTP server limits NewServer sets.
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 30 * time.Second
	WriteTimeout      = 30 * time.Second
	IdleTimeout       = 120 * time.Second
	MaxHeaderBytes    = 64 << 10
)

// NewServer returns an http.Server for h on addr with header, read, write
// and idle timeouts and a header size limit, so a slow or hostile client
// cannot hold a connection or memory. The agent serves its webhooks,
// /healthz, /metrics and its status API on it, behind a TLS-terminating proxy.
func NewServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
	}
}
