package alert

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Condition is one alert condition firing now.
type Condition struct {
	Key     string  `json:"key"` // what de-duplicates: "queue_size:role:web"
	Summary string  `json:"summary"`
	Value   float64 `json:"value"`
	Limit   float64 `json:"threshold"`
}

// Notice is what a channel sends.
type Notice struct {
	Cluster  string    `json:"cluster"`
	Key      string    `json:"key"`
	Summary  string    `json:"summary"`
	Resolved bool      `json:"resolved"`
	Since    time.Time `json:"since"` // when the condition started firing
	At       time.Time `json:"at"`
}

// Title is the one-line subject of a notice.
func (n Notice) Title() string {
	state := "FIRING"
	if n.Resolved {
		state = "RESOLVED"
	}
	return "[celeroot " + n.Cluster + "] " + state + ": " + n.Summary
}

// Channel delivers notices.
type Channel interface {
	Name() string // for logs and stats, secrets masked
	Send(ctx context.Context, n Notice) error
}

// Options tune a Manager; zero values take the defaults.
type Options struct {
	Cluster  string
	Cooldown time.Duration // a firing alert is sent again after this (0: every evaluation)
	Queue    int           // notices a channel holds while it lags (default 64)
	Attempts int           // tries of one notice (default 5)
	Backoff  time.Duration // first retry delay, doubling (default 1s)
	Timeout  time.Duration // deadline of one try (default 10s)
	Log      *slog.Logger
	Now      func() time.Time
}

// Manager de-duplicates conditions into notices and sends them.
type Manager struct {
	o       Options
	senders []*sender

	mu     sync.Mutex
	active map[string]*active
}

type active struct {
	cond  Condition
	since time.Time
	sent  time.Time // last firing notice; zero: none sent (cooling down)
}

// ChannelStats are one channel's delivery counts.
type ChannelStats struct {
	Channel   string `json:"channel"`
	Sent      int64  `json:"sent"`
	Failed    int64  `json:"failed"`  // notices given up after every attempt
	Dropped   int64  `json:"dropped"` // notices dropped because its queue was full
	Errors    int64  `json:"errors"`  // failed tries (each retried until the attempts run out)
	LastError string `json:"last_error,omitempty"`
}

// NewManager starts a sender per channel; Close stops them.
func NewManager(chs []Channel, o Options) *Manager {
	if o.Queue <= 0 {
		o.Queue = 64
	}
	if o.Attempts <= 0 {
		o.Attempts = 5
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	m := &Manager{o: o, active: map[string]*active{}}
	for _, ch := range chs {
		s := newSender(ch, o)
		m.senders = append(m.senders, s)
		go s.loop()
	}
	return m
}

// Observe takes the conditions firing now and queues the notices they
// call for; it never waits for a channel.
func (m *Manager) Observe(firing []Condition) {
	now := m.o.Now()
	var out []Notice
	m.mu.Lock()
	seen := map[string]bool{}
	for _, c := range firing {
		seen[c.Key] = true
		a, ok := m.active[c.Key]
		if !ok {
			a = &active{cond: c, since: now}
			m.active[c.Key] = a
		}
		a.cond = c
		if a.sent.IsZero() || now.Sub(a.sent) >= m.o.Cooldown {
			a.sent = now
			out = append(out, Notice{Cluster: m.o.Cluster, Key: c.Key, Summary: c.Summary, Since: a.since, At: now})
		}
	}
	keys := make([]string, 0, len(m.active))
	for k := range m.active {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if seen[k] {
			continue
		}
		a := m.active[k]
		delete(m.active, k)
		out = append(out, Notice{Cluster: m.o.Cluster, Key: k, Summary: a.cond.Summary, Resolved: true, Since: a.since, At: now})
	}
	m.mu.Unlock()
	for _, n := range out {
		m.o.Log.Warn("alert", "key", n.Key, "resolved", n.Resolved, "summary", n.Summary)
		for _, s := range m.senders {
			s.enqueue(n)
		}
	}
}

// Active returns the conditions firing at the last evaluation.
func (m *Manager) Active() []Condition {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Condition, 0, len(m.active))
	for _, a := range m.active {
		out = append(out, a.cond)
	}
	slices.SortFunc(out, func(a, b Condition) int { return cmp.Compare(a.Key, b.Key) })
	return out
}

// Stats returns each channel's delivery counts.
func (m *Manager) Stats() []ChannelStats {
	out := make([]ChannelStats, len(m.senders))
	for i, s := range m.senders {
		out[i] = s.stats()
	}
	return out
}

// Close stops the senders, abandoning the notices not sent yet.
func (m *Manager) Close() {
	for _, s := range m.senders {
		s.close()
	}
}

type sender struct {
	ch   Channel
	o    Options
	q    chan Notice
	stop chan struct{}
	done chan struct{}
	once sync.Once

	mu sync.Mutex
	st ChannelStats
}

func newSender(ch Channel, o Options) *sender {
	return &sender{ch: ch, o: o, q: make(chan Notice, o.Queue), stop: make(chan struct{}), done: make(chan struct{}),
		st: ChannelStats{Channel: ch.Name()}}
}

func (s *sender) enqueue(n Notice) {
	select {
	case s.q <- n:
	default:
		s.mu.Lock()
		s.st.Dropped++
		s.mu.Unlock()
		s.o.Log.Error("alert channel lagging: notice dropped", "channel", s.ch.Name(), "key", n.Key)
	}
}

func (s *sender) loop() {
	defer close(s.done)
	for {
		select {
		case <-s.stop:
			return
		case n := <-s.q:
			s.deliver(n)
		}
	}
}

// deliver tries a notice up to Attempts times, backing off between tries.
func (s *sender) deliver(n Notice) {
	wait := s.o.Backoff
	var err error
	for try := 1; try <= s.o.Attempts; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), s.o.Timeout)
		err = s.ch.Send(ctx, n)
		cancel()
		if err == nil {
			s.mu.Lock()
			s.st.Sent++
			s.mu.Unlock()
			return
		}
		s.o.Log.Warn("alert channel failed", "channel", s.ch.Name(), "key", n.Key, "try", try, "of", s.o.Attempts, "err", err)
		s.mu.Lock()
		s.st.Errors++
		s.st.LastError = err.Error()
		s.mu.Unlock()
		if try == s.o.Attempts {
			break
		}
		select {
		case <-s.stop:
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, time.Minute)
	}
	s.mu.Lock()
	s.st.Failed++
	s.mu.Unlock()
	s.o.Log.Error("alert not delivered", "channel", s.ch.Name(), "key", n.Key, "attempts", s.o.Attempts, "err", err)
}

func (s *sender) stats() ChannelStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st
}

func (s *sender) close() {
	s.once.Do(func() { close(s.stop) })
	<-s.done
}
