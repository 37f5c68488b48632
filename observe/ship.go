package observe

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/queue"
)

// LogSink stores a process's log lines (*queue.Queue).
type LogSink interface {
	ShipLog(ctx context.Context, src queue.ProcSource, budget int64, lines []queue.ProcLine) error
}

// ShipOptions tune a Shipper; zero values take the defaults.
type ShipOptions struct {
	Buffer  int           // lines held while shipping lags (default 4096)
	Batch   int           // lines per round trip (default 256)
	Timeout time.Duration // deadline of one round trip (default 2s)
	Budget  int64         // bytes the stream keeps (default queue.ProcLogBudget)
}

// Shipper sends a process's log lines to its Redis stream without ever
// making the process wait: lines go into a bounded buffer that one
// goroutine drains; when the buffer is full (Redis slow or down) a line is
// dropped and counted, and the count is shipped as a line of its own once
// lines flow again.
type Shipper struct {
	sink LogSink
	src  queue.ProcSource
	o    ShipOptions

	lines   chan queue.ProcLine
	dropped atomic.Int64 // lines lost since the last report
	lost    atomic.Int64 // lines lost in all
	failed  atomic.Int64 // round trips that failed
	done    chan struct{}
	stop    context.CancelFunc
	once    sync.Once
}

// NewShipper starts a shipper of src's lines to sink; Close stops it.
func NewShipper(sink LogSink, src queue.ProcSource, o ShipOptions) *Shipper {
	if o.Buffer <= 0 {
		o.Buffer = 4096
	}
	if o.Batch <= 0 {
		o.Batch = 256
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &Shipper{sink: sink, src: src, o: o, lines: make(chan queue.ProcLine, o.Buffer), done: make(chan struct{}), stop: stop}
	go s.loop(ctx)
	return s
}

// Dropped returns how many lines were lost: buffer full or Redis failing.
func (s *Shipper) Dropped() int64 { return s.lost.Load() }

// add queues a line; it never blocks.
func (s *Shipper) add(l queue.ProcLine) {
	select {
	case s.lines <- l:
	default:
		s.dropped.Add(1)
		s.lost.Add(1)
	}
}

func (s *Shipper) loop(ctx context.Context) {
	defer close(s.done)
	batch := make([]queue.ProcLine, 0, s.o.Batch)
	for {
		select {
		case l := <-s.lines:
			batch = append(batch[:0], l)
		case <-ctx.Done():
			s.drain(batch[:0])
			return
		}
		batch = s.fill(batch)
		s.ship(batch)
	}
}

// fill takes what else is buffered, up to a batch.
func (s *Shipper) fill(batch []queue.ProcLine) []queue.ProcLine {
	for len(batch) < s.o.Batch {
		select {
		case l := <-s.lines:
			batch = append(batch, l)
		default:
			return batch
		}
	}
	return batch
}

func (s *Shipper) ship(batch []queue.ProcLine) {
	if n := s.dropped.Swap(0); n > 0 {
		batch = append(batch, queue.ProcLine{Source: s.src, Time: time.Now(), Level: "WARN",
			Text: "log shipping dropped " + itoa(n) + " lines (Redis slow or unreachable)"})
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.o.Timeout)
	defer cancel()
	if err := s.sink.ShipLog(ctx, s.src, s.o.Budget, batch); err != nil {
		s.failed.Add(1)
		s.dropped.Add(int64(len(batch)))
		s.lost.Add(int64(len(batch)))
		time.Sleep(min(s.o.Timeout, 500*time.Millisecond)) // let Redis come back before the next try
	}
}

// drain ships what is buffered at Close.
func (s *Shipper) drain(batch []queue.ProcLine) {
	for {
		batch = s.fill(batch[:0])
		if len(batch) == 0 {
			return
		}
		s.ship(batch)
	}
}

// Close ships the buffered lines (each round trip within the timeout) and
// stops.
func (s *Shipper) Close() {
	s.once.Do(func() {
		s.stop()
		<-s.done
	})
}

// Handler returns a slog handler that passes records to next and ships
// each one, as a text line with secrets masked, at level or above.
func (s *Shipper) Handler(next slog.Handler, level slog.Leveler) slog.Handler {
	return &shipHandler{next: next, s: s, level: level}
}

type shipHandler struct {
	next   slog.Handler
	s      *Shipper
	level  slog.Leveler
	attrs  []slog.Attr
	groups []string
}

func (h *shipHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l) || l >= h.level.Level()
}

func (h *shipHandler) Handle(ctx context.Context, r slog.Record) error {
	var err error
	if h.next.Enabled(ctx, r.Level) {
		err = h.next.Handle(ctx, r)
	}
	if r.Level >= h.level.Level() {
		h.s.add(queue.ProcLine{Source: h.s.src, Time: r.Time, Level: r.Level.String(), Text: h.format(r)})
	}
	return err
}

// format renders r's message and attributes as logfmt, without time and
// level (the line carries them), secrets masked.
func (h *shipHandler) format(r slog.Record) string {
	var b bytes.Buffer
	var th slog.Handler = slog.NewTextHandler(&b, &slog.HandlerOptions{ReplaceAttr: maskAttr})
	if len(h.attrs) > 0 {
		th = th.WithAttrs(h.attrs)
	}
	for _, g := range h.groups {
		th = th.WithGroup(g)
	}
	r2 := slog.NewRecord(time.Time{}, slog.LevelInfo, r.Message, 0)
	r.Attrs(func(a slog.Attr) bool { r2.AddAttrs(a); return true })
	_ = th.Handle(context.Background(), r2)
	line := strings.TrimSuffix(b.String(), "\n")
	line = strings.TrimPrefix(line, "level=INFO ")
	if rest, ok := strings.CutPrefix(line, "msg="); ok {
		line = rest
	}
	return line
}

// maskAttr hides the values of attributes named like credentials and the
// credentials inside URLs (config.MaskURL).
func maskAttr(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey) && a.Value.Kind() != slog.KindGroup {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	if config.IsSecretName(a.Key) {
		return slog.String(a.Key, config.Masked)
	}
	if a.Value.Kind() == slog.KindString || a.Value.Kind() == slog.KindAny {
		if v := a.Value.String(); strings.Contains(v, "://") {
			return slog.String(a.Key, maskURLs(v))
		}
	}
	return a
}

// maskURLs masks every URL in a text (each space-separated word with "://").
func maskURLs(s string) string {
	words := strings.Fields(s)
	for i, w := range words {
		if strings.Contains(w, "://") {
			words[i] = config.MaskURL(w)
		}
	}
	return strings.Join(words, " ")
}

func (h *shipHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.next = h.next.WithAttrs(as)
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &c
}

func (h *shipHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.next = h.next.WithGroup(name)
	c.groups = append(append([]string(nil), h.groups...), name)
	return &c
}

// Ship returns log teed to src's log stream in sink (records at info and
// above), and a function that ships what is buffered and stops.
func Ship(sink LogSink, src queue.ProcSource, log *slog.Logger) (*slog.Logger, func()) {
	s := NewShipper(sink, src, ShipOptions{})
	return slog.New(s.Handler(log.Handler(), slog.LevelInfo)), s.Close
}

// Hostname is this machine's name, for the log source of a beat or an
// agent (a worker uses its host's name in cl.yaml).
func Hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}

// WorkerSource is the log source of the worker of host in cfg.
func WorkerSource(cfg *config.Config, host string) queue.ProcSource {
	src := queue.ProcSource{Kind: "worker", Host: host}
	if h, ok := cfg.Hosts.Get(host); ok {
		src.Role = h.Role
	}
	return src
}
