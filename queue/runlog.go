package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// maxLine is the longest line a run log keeps; longer output without a
// newline is cut into lines of this size.
const maxLine = 64 << 10

// lineOverhead is what one stored line costs besides its text (stream
// entry id, field names, stream name, time), counted against the budget.
const lineOverhead = 48

// retryEvery is how often a run log retries sending lines held while Redis
// is unreachable; flushWait is how long Close keeps trying.
const (
	retryEvery = time.Second
	flushWait  = 30 * time.Second
)

// RunLog is the writing side of one run's log, shared by its output
// streams. It keeps the log within the queue's byte budget (WithLogBudget):
// the first half of the budget (the head) and the last half (the tail) stay,
// lines between are deleted as the tail moves on, and readers (Logs) see a
// marker line in the gap saying how many lines and bytes were cut.
// Lines that cannot be sent because Redis is unreachable are held (within
// the same budget) and sent in order when it answers again. Close flushes.
type RunLog struct {
	q   *Queue
	ctx context.Context
	id  string

	mu                 sync.Mutex
	headMax, tailMax   int64 // bytes
	headLines, tailCap int   // lines
	headBytes          int64
	headN              int
	headFull           bool
	headLast           *logEntry // the head's last line
	tail               []*logEntry
	tailBytes          int64
	pending            []*logEntry // not yet in Redis, oldest first
	pendingCut         int         // of them cut
	dels               []string    // ids of sent tail lines cut since the last flush
	cutLines, cutBytes int64
	cutDirty           bool
	failing            error // the last flush error, nil when Redis answered
	retry              *time.Timer
	writers            []*streamWriter
	closed             bool
}

type logEntry struct {
	stream, text string
	at           int64 // unix ms
	cost         int64
	id           string // set once in Redis
	cut          bool
}

// RunLog returns the log writer of run runID. ctx bounds its Redis calls
// (pass one that outlives a killed task, so that its last lines are kept).
func (q *Queue) RunLog(ctx context.Context, runID string) *RunLog {
	b := q.opt.logBudget
	lines := max(q.opt.logCap-16, 2)
	return &RunLog{q: q, ctx: ctx, id: runID,
		headMax: b / 2, tailMax: b - b/2, headLines: lines / 2, tailCap: lines - lines/2}
}

// Writer returns a writer that adds each complete line written to it to the
// log as a line of stream ("stdout", "stderr"). It never fails: lines that
// cannot be sent yet are held. Use one per output stream, e.g. as a
// subprocess' Stdout; RunLog.Close flushes a last partial line.
func (l *RunLog) Writer(stream string) io.Writer {
	w := &streamWriter{l: l, stream: stream}
	l.mu.Lock()
	l.writers = append(l.writers, w)
	l.mu.Unlock()
	return w
}

type streamWriter struct {
	l      *RunLog
	stream string
	buf    []byte // a partial line; guarded by l.mu
}

func (w *streamWriter) Write(p []byte) (int, error) {
	l := w.l
	l.mu.Lock()
	defer l.mu.Unlock()
	w.buf = append(w.buf, p...)
	now := time.Now().UnixMilli()
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		l.add(w.stream, string(bytes.TrimSuffix(w.buf[:i], []byte("\r"))), now)
		w.buf = w.buf[i+1:]
	}
	for len(w.buf) > maxLine { // a very long line without newline: cut it
		l.add(w.stream, string(w.buf[:maxLine]), now)
		w.buf = w.buf[maxLine:]
	}
	w.buf = bytes.Clone(w.buf) // do not pin the caller's large buffers
	if l.failing == nil || l.retry == nil {
		l.flush()
	}
	return len(p), nil
}

// add places one line in the head or the tail, cutting the oldest tail
// lines past the budget. Callers hold l.mu.
func (l *RunLog) add(stream, text string, at int64) {
	if half := min(l.headMax, l.tailMax) - lineOverhead; int64(len(text)) > half {
		text = text[:max(half, 0)]
	}
	e := &logEntry{stream: stream, text: text, at: at, cost: int64(len(text)) + lineOverhead}
	l.pending = append(l.pending, e)
	if !l.headFull && l.headBytes+e.cost <= l.headMax && l.headN < l.headLines {
		l.headBytes += e.cost
		l.headN++
		l.headLast = e
		return
	}
	l.headFull = true
	l.tail = append(l.tail, e)
	l.tailBytes += e.cost
	for l.tailBytes > l.tailMax || len(l.tail) > l.tailCap {
		old := l.tail[0]
		l.tail[0] = nil
		l.tail = l.tail[1:]
		l.tailBytes -= old.cost
		l.cutLines++
		l.cutBytes += old.cost - lineOverhead
		l.cutDirty = true
		old.cut, old.text = true, ""
		if old.id != "" {
			l.dels = append(l.dels, old.id)
		} else {
			l.pendingCut++
		}
	}
	if l.pendingCut > 64 && l.pendingCut > len(l.pending)/2 { // Redis is down: keep the held lines within the budget
		l.pending = slices.DeleteFunc(l.pending, func(e *logEntry) bool { return e.cut })
		l.pendingCut = 0
	}
}

// flush sends the held lines, the deletions of cut lines and the cut
// counts. On failure everything stays held and a retry is scheduled.
// Callers hold l.mu.
func (l *RunLog) flush() {
	l.pending = slices.DeleteFunc(l.pending, func(e *logEntry) bool { return e.cut })
	l.pendingCut = 0
	send := l.pending
	if len(send) == 0 && len(l.dels) == 0 && !l.cutDirty {
		return
	}
	q := l.q
	key := q.keys.Log(l.id)
	octx, cancel := q.op(l.ctx)
	defer cancel()
	pipe := q.rdb.Pipeline()
	adds := make([]*redis.StringCmd, len(send))
	for i, e := range send {
		adds[i] = pipe.XAdd(octx, &redis.XAddArgs{Stream: key,
			Values: []any{"s", e.stream, "t", strconv.FormatInt(e.at, 10), "l", e.text}})
	}
	if len(l.dels) > 0 {
		pipe.XDel(octx, key, l.dels...)
	}
	pipe.PExpire(octx, key, q.opt.logTTL)
	_, err := pipe.Exec(octx)
	for i, c := range adds { // lines Redis took keep their ids even if later ones failed
		if id, cerr := c.Result(); cerr == nil {
			send[i].id, send[i].text = id, "" // only its id and cost are needed, to cut it later
		}
	}
	if err == nil && l.cutDirty && l.headLast != nil && l.headLast.id != "" {
		err = q.rdb.HSet(octx, q.keys.LogCut(l.id), "after", l.headLast.id,
			"lines", l.cutLines, "bytes", l.cutBytes).Err()
		if err == nil {
			err = q.rdb.PExpire(octx, q.keys.LogCut(l.id), q.opt.logTTL).Err()
			l.cutDirty = err != nil
		}
	}
	if err != nil {
		l.held(fmt.Errorf("write %d log lines of run %s: %w", len(send), l.id, err))
		return
	}
	l.pending, l.dels = nil, nil
	if l.failing != nil {
		q.log.Info("run log sent after Redis came back", "run", l.id)
	}
	l.failing = nil
}

// held records a failed flush: lines sent in part are not resent (they have
// ids), the rest waits for a retry in retryEvery.
func (l *RunLog) held(err error) {
	l.pending = slices.DeleteFunc(l.pending, func(e *logEntry) bool { return e.id != "" })
	if l.failing == nil {
		l.q.log.Warn("run log held in memory until Redis answers", "run", l.id, "err", err)
	}
	l.failing = err
	if l.closed || l.retry != nil {
		return
	}
	l.retry = time.AfterFunc(retryEvery, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.retry = nil
		if !l.closed {
			l.flush()
		}
	})
}

// Close adds the writers' last partial lines and sends everything held,
// retrying for up to 30 s while Redis is unreachable. It returns an error
// when lines could not be sent.
func (l *RunLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	if l.retry != nil {
		l.retry.Stop()
		l.retry = nil
	}
	now := time.Now().UnixMilli()
	for _, w := range l.writers {
		if len(w.buf) > 0 {
			l.add(w.stream, string(w.buf), now)
			w.buf = nil
		}
	}
	deadline := time.Now().Add(flushWait)
	for {
		l.flush()
		if l.failing == nil {
			return nil
		}
		if time.Now().After(deadline) || l.ctx.Err() != nil {
			return fmt.Errorf("%d log lines of run %s lost: %w", len(l.pending), l.id, l.failing)
		}
		l.mu.Unlock()
		select {
		case <-time.After(retryEvery):
		case <-l.ctx.Done():
		}
		l.mu.Lock()
	}
}

// LogWriter returns a writer that appends each complete line written to it
// to the run's log as lines of stream, within the log budget; Close flushes
// a last partial line and whatever Redis could not take yet. It is a RunLog
// with one writer: give a run's streams one RunLog to share its budget.
func (q *Queue) LogWriter(ctx context.Context, runID, stream string) io.WriteCloser {
	rl := q.RunLog(ctx, runID)
	return &oneStream{Writer: rl.Writer(stream), rl: rl}
}

type oneStream struct {
	io.Writer
	rl *RunLog
}

func (o *oneStream) Close() error { return o.rl.Close() }

// logCut is what a writer cut from a run's log: lines and bytes of output
// after entry after.
type logCut struct {
	after        string
	lines, bytes int64
}

// readCut reads the cut of a run's log, zero when nothing was cut.
func (q *Queue) readCut(ctx context.Context, runID string) (logCut, error) {
	octx, cancel := q.op(ctx)
	defer cancel()
	v, err := q.rdb.HMGet(octx, q.keys.LogCut(runID), "after", "lines", "bytes").Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return logCut{}, fmt.Errorf("read the cut of run %s's log: %w", runID, err)
	}
	var c logCut
	if len(v) == 3 {
		c.after, _ = v[0].(string)
		s1, _ := v[1].(string)
		s2, _ := v[2].(string)
		c.lines, _ = strconv.ParseInt(s1, 10, 64)
		c.bytes, _ = strconv.ParseInt(s2, 10, 64)
	}
	return c, nil
}

// marker is the line readers see where lines were cut.
func (c logCut) marker() string {
	return fmt.Sprintf("… %d lines, %s cut: the log of a run keeps its first and last lines within redis.log_budget …",
		c.lines, humanBytes(c.bytes))
}

// humanBytes renders n bytes with a binary unit.
func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
