package adhoc

import (
	"bytes"
	"fmt"
	"io"
	"sync"
)

// output serialises the hosts' writes to the two streams: only whole lines
// (or, grouped, whole blocks) are written, under one lock.
type output struct {
	mu             sync.Mutex
	stdout, stderr io.Writer
	group          bool
}

func newOutput(o Options) *output {
	return &output{stdout: orDiscard(o.Stdout), stderr: orDiscard(o.Stderr), group: o.Group}
}

// hostOutput is one host's two streams.
type hostOutput struct {
	out            *output
	name           string
	stdout, stderr *lineWriter
}

func (o *output) host(name string, capture int) *hostOutput {
	h := &hostOutput{out: o, name: name}
	h.stdout = &lineWriter{h: h, dst: o.stdout, block: capped{max: maxBlock}, capture: capped{max: capture}}
	h.stderr = &lineWriter{h: h, dst: o.stderr, block: capped{max: maxBlock}, capture: capped{max: capture}}
	return h
}

// done flushes what is left: a last line without a newline (streamed), or
// the host's block with a header naming how it ended (grouped).
func (h *hostOutput) done(o *Outcome) {
	h.stdout.flush()
	h.stderr.flush()
	if !h.out.group {
		return
	}
	h.out.mu.Lock()
	defer h.out.mu.Unlock()
	fmt.Fprintf(h.out.stdout, "== %s: %s\n", h.name, o.Status())
	h.stdout.writeBlock("")
	h.stderr.writeBlock("== " + h.name + " (stderr)\n")
}

// writeBlock writes the grouped output, after header when there is any.
func (w *lineWriter) writeBlock(header string) {
	b := w.block.buf
	if len(b) == 0 {
		return
	}
	if b[len(b)-1] != '\n' {
		b = append(b, '\n')
	}
	if w.block.lost {
		b = append(b, fmt.Sprintf("[%s: output past %d MiB not shown]\n", w.h.name, maxBlock>>20)...)
	}
	_, _ = io.WriteString(w.dst, header)
	_, _ = w.dst.Write(b)
}

func (h *hostOutput) captured() (stdout, stderr string, truncated bool) {
	return string(h.stdout.capture.buf), string(h.stderr.capture.buf), h.stdout.capture.lost || h.stderr.capture.lost
}

// lineWriter prefixes each complete line with "host | " and writes it
// whole; a partial line waits for its end (or for the host to finish).
type lineWriter struct {
	h       *hostOutput
	dst     io.Writer
	block   capped // grouped output
	partial []byte
	capture capped
}

// maxLine bounds a line kept waiting for its newline: a longer one is
// written in pieces rather than held without limit.
const maxLine = 64 << 10

// maxBlock bounds the grouped output kept of one host's stream.
const maxBlock = 4 << 20

func (w *lineWriter) Write(p []byte) (int, error) {
	w.capture.write(p)
	if w.h.out.group {
		w.block.write(p)
		return len(p), nil
	}
	w.partial = append(w.partial, p...)
	end := bytes.LastIndexByte(w.partial, '\n') + 1
	if end == 0 && len(w.partial) < maxLine {
		return len(p), nil
	}
	if end == 0 {
		w.partial = append(w.partial, '\n')
		end = len(w.partial)
	}
	w.emit(w.partial[:end])
	w.partial = append(w.partial[:0], w.partial[end:]...)
	return len(p), nil
}

func (w *lineWriter) flush() {
	if len(w.partial) > 0 && !w.h.out.group {
		w.emit(append(w.partial, '\n'))
		w.partial = nil
	}
}

func (w *lineWriter) emit(lines []byte) {
	b := prefixLines(w.h.name+" | ", lines)
	w.h.out.mu.Lock()
	defer w.h.out.mu.Unlock()
	_, _ = w.dst.Write(b)
}

// prefixLines puts prefix before every line of lines, which ends with a
// newline.
func prefixLines(prefix string, lines []byte) []byte {
	var b bytes.Buffer
	for len(lines) > 0 {
		i := bytes.IndexByte(lines, '\n') + 1
		if i == 0 {
			i = len(lines)
		}
		b.WriteString(prefix)
		b.Write(lines[:i])
		lines = lines[i:]
	}
	return b.Bytes()
}

// capped keeps the first max bytes written to it.
type capped struct {
	max  int
	buf  []byte
	lost bool
}

func (c *capped) write(p []byte) {
	if c.max <= 0 {
		return
	}
	room := c.max - len(c.buf)
	if len(p) > room {
		p, c.lost = p[:room], true
	}
	c.buf = append(c.buf, p...)
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
