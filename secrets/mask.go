package secrets

import (
	"bytes"
	"io"
	"sort"
	"strings"
	"sync"
)

// Mask is what a secret value is replaced with in output.
const Mask = "***"

// Masker replaces secret values in text. A multi-line value is masked line
// by line too, so that a value printed across lines is hidden on each; lines
// shorter than minMaskLine are masked only as part of the whole value (a
// one-character line of a PEM key would otherwise hide every such
// character). The zero value masks nothing.
type Masker struct {
	vals []string // longest first
}

const minMaskLine = 4

// NewMasker returns a masker for values (empty ones are ignored).
func NewMasker(values ...string) *Masker {
	m := &Masker{}
	m.Add(values...)
	return m
}

// Add adds values to mask.
func (m *Masker) Add(values ...string) {
	seen := map[string]bool{}
	for _, v := range m.vals {
		seen[v] = true
	}
	add := func(v string) {
		if v != "" && !seen[v] {
			seen[v] = true
			m.vals = append(m.vals, v)
		}
	}
	for _, v := range values {
		add(v)
		if strings.ContainsAny(v, "\r\n") {
			for _, l := range strings.FieldsFunc(v, func(r rune) bool { return r == '\n' || r == '\r' }) {
				if l = strings.TrimSpace(l); len(l) >= minMaskLine {
					add(l)
				}
			}
		}
	}
	sort.SliceStable(m.vals, func(i, j int) bool { return len(m.vals[i]) > len(m.vals[j]) })
}

// Empty reports whether there is nothing to mask.
func (m *Masker) Empty() bool { return m == nil || len(m.vals) == 0 }

// String masks s.
func (m *Masker) String(s string) string {
	if m.Empty() {
		return s
	}
	for _, v := range m.vals {
		s = strings.ReplaceAll(s, v, Mask)
	}
	return s
}

func (m *Masker) bytes(b []byte) []byte {
	for _, v := range m.vals {
		b = bytes.ReplaceAll(b, []byte(v), []byte(Mask))
	}
	return b
}

func (m *Masker) longest() int {
	if m.Empty() {
		return 0
	}
	return len(m.vals[0])
}

// maskHold is how much a masking writer holds of a line without a newline
// before it writes part of it.
const maskHold = 64 << 10

// Writer returns a writer that masks what passes through it to w. It
// writes complete lines (and, of a very long line, all but what could be
// the start of a value), so a value split across writes is masked too;
// Flush writes what is left. Safe for one writer at a time.
func (m *Masker) Writer(w io.Writer) *MaskWriter { return &MaskWriter{m: m, w: w} }

// MaskWriter is Masker.Writer's writer.
type MaskWriter struct {
	m   *Masker
	w   io.Writer
	mu  sync.Mutex
	buf []byte
}

func (mw *MaskWriter) Write(p []byte) (int, error) {
	if mw.m.Empty() {
		return mw.w.Write(p)
	}
	mw.mu.Lock()
	defer mw.mu.Unlock()
	mw.buf = append(mw.buf, p...)
	if i := bytes.LastIndexByte(mw.buf, '\n'); i >= 0 {
		// A multi-line value may span the newline: mask the whole buffer,
		// then keep what follows the last newline.
		out := mw.m.bytes(mw.buf[:i+1])
		rest := append([]byte(nil), mw.buf[i+1:]...)
		mw.buf = rest
		if _, err := mw.w.Write(out); err != nil {
			return 0, err
		}
	}
	if len(mw.buf) > maskHold {
		// Mask what is complete, write all but the last longest-1 bytes:
		// a value not yet complete can only start there.
		masked := mw.m.bytes(mw.buf)
		keep := min(mw.m.longest()-1, len(masked))
		out := masked[:len(masked)-keep]
		mw.buf = append([]byte(nil), masked[len(masked)-keep:]...)
		if _, err := mw.w.Write(out); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Flush masks and writes what is held.
func (mw *MaskWriter) Flush() error {
	mw.mu.Lock()
	defer mw.mu.Unlock()
	if len(mw.buf) == 0 {
		return nil
	}
	out := mw.m.bytes(mw.buf)
	mw.buf = nil
	_, err := mw.w.Write(out)
	return err
}
