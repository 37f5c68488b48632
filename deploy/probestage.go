package deploy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/celeroot/celeroot/hostexec"
)

// A deploy probes a host and stages the release in one SSH session (the
// host library's probestage command), saving a session, a shell and the
// library's start on every host:
//
//	host: probe output, "\n@@ready-TOKEN\n"        → cl parses the probe, decides the delta
//	cl:   "N\n", N argument lines for stage, tar    → host: stage (and switch, restart)
//	host: stage output, "\n@@end-TOKEN\n" (EXIT trap, whatever the exit)
//
// TOKEN is random for each session, so output that only looks like a
// marker (a file name in the manifest, say) cannot move the split. N = 0
// says there is nothing to stage; the host then exits 0.

// stageSession is one probestage command running on a host: started by
// the probe step, fed by the transfer step (or told to skip), and always
// ended by hostRun.endStage.
type stageSession struct {
	out    *markerSplitter
	stdin  *io.PipeWriter
	cancel context.CancelCauseFunc
	done   chan struct{} // closed when Run returned
	fed    bool          // the decision was written (stage or skip)

	// Set before done is closed.
	res    hostexec.Result
	stderr string
	err    error
}

// errStageOutput is the cause a session is stopped with when the host
// prints more than its caps (markerSplitter).
var errStageOutput = errors.New("output over cl's cap")

// startStage runs probestage on the host in the background. ctx bounds the
// whole session (probe and stage); the steps add their own deadlines.
func (r *remote) startStage(ctx context.Context, args ...string) (*stageSession, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	token := hex.EncodeToString(b[:])
	ctx, cancel := context.WithCancelCause(ctx)
	s := &stageSession{cancel: cancel, done: make(chan struct{})}
	s.out = newMarkerSplitter(token, maxProbeOutput, maxOutput, func() { cancel(errStageOutput) })
	pr, pw := io.Pipe()
	s.stdin = pw
	argv := append([]string{"/bin/sh", "-c", helperWrapper, r.libPath(), r.helper, "probestage", token}, args...)
	go func() {
		defer close(s.done)
		s.res, s.stderr, s.err = r.run(ctx, hostexec.Command{Argv: argv, Stdin: pr, Stdout: s.out,
			MaxStdout: maxProbeOutput + maxOutput + 1024})
		if context.Cause(ctx) == errStageOutput {
			s.err = fmt.Errorf("printed more than cl's caps (%d bytes before the ready marker, %d after it): stopped it (check what the host prints there)",
				maxProbeOutput, maxOutput)
		}
		// Nothing reads the stdin any more: a feeder stops.
		pr.CloseWithError(io.ErrClosedPipe)
		cancel(nil)
	}()
	go func() {
		// The host printed its end marker: it reads no more input.
		select {
		case <-s.out.ended:
			pw.Close()
		case <-s.done:
		}
	}()
	return s, nil
}

// ready waits for the probe's output: ok is false when the command ended
// without printing the ready marker (then s.res, s.stderr and s.err say
// how it ended). When ctx ends first, the session is stopped.
func (s *stageSession) ready(ctx context.Context) (probe []byte, ok bool, err error) {
	select {
	case <-s.out.readied:
		return s.out.probe.Bytes(), true, nil
	case <-s.done:
		select {
		case <-s.out.readied: // the marker came just before the end
			return s.out.probe.Bytes(), true, nil
		default:
		}
		return nil, false, nil
	case <-ctx.Done():
		s.stop(ctx.Err())
		return nil, false, ctx.Err()
	}
}

// stageInput is the decision line and stage's arguments, one a line; ok
// is false when an argument holds a newline (stage then runs in a session
// of its own, with its arguments as argv).
func stageInput(args []string) (string, bool) {
	var b strings.Builder
	b.WriteString(strconv.Itoa(len(args)) + "\n")
	for _, a := range args {
		if strings.ContainsAny(a, "\n\r") {
			return "", false
		}
		b.WriteString(a + "\n")
	}
	return b.String(), true
}

// send writes the decision and then data to the host, closes its stdin
// and waits for the command to end (see wait). Errors writing are not
// returned: the host then stopped reading, and how it ended says why.
func (s *stageSession) send(ctx context.Context, input string, data io.Reader) (hostexec.Result, string, string, error) {
	fed := s.feed(input, data)
	defer func() { <-fed }()
	return s.wait(ctx)
}

// feed writes in the background; the returned channel is closed when it
// is done (the host read everything, or the session ended).
func (s *stageSession) feed(input string, data io.Reader) <-chan struct{} {
	s.fed = true
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		if _, err := io.WriteString(s.stdin, input); err == nil && data != nil {
			_, _ = io.Copy(s.stdin, data)
		}
		s.stdin.Close()
	}()
	return fed
}

// wait waits for the command to end, stopping it when ctx ends first, and
// returns how it ended with the output after the ready marker.
func (s *stageSession) wait(ctx context.Context) (hostexec.Result, string, string, error) {
	select {
	case <-s.done:
	case <-ctx.Done():
		s.stop(ctx.Err())
		if s.err == nil {
			s.err = ctx.Err()
		}
	}
	return s.res, s.out.stage.String(), s.stderr, s.err
}

// stop cancels the command and waits for Run to return.
func (s *stageSession) stop(cause error) {
	s.cancel(cause)
	s.stdin.CloseWithError(cause)
	<-s.done
}

// end tells a host that is still waiting for its decision that there is
// nothing to stage, and waits (at most stepTimeout) for the command to end.
func (s *stageSession) end() {
	if !s.fed {
		s.feed("0\n", nil)
	}
	select {
	case <-s.done:
	case <-time.After(stepTimeout):
		s.stop(errors.New("the host did not end the probe session"))
	}
}

// markerSplitter is the stdout of a probestage command: the output before
// "\n@@ready-TOKEN\n" is the probe's, the output after it up to
// "\n@@end-TOKEN\n" the stage's; anything after the end marker is
// dropped. Markers may arrive split across writes; only the exact token
// matches. A part longer than its cap calls over once and the rest is
// dropped.
type markerSplitter struct {
	mu             sync.Mutex
	readyMark      []byte
	endMark        []byte
	probe, stage   bytes.Buffer
	probeMax       int
	stageMax       int
	state          splitState
	readied, ended chan struct{}
	over           func()
	overflowed     bool
}

type splitState int

const (
	splitProbe splitState = iota
	splitStage
	splitEnded
)

func newMarkerSplitter(token string, probeMax, stageMax int, over func()) *markerSplitter {
	return &markerSplitter{
		readyMark: []byte("\n@@ready-" + token + "\n"),
		endMark:   []byte("\n@@end-" + token + "\n"),
		probeMax:  probeMax, stageMax: stageMax, over: over,
		readied: make(chan struct{}), ended: make(chan struct{}),
	}
}

func (m *markerSplitter) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := len(p)
	for len(p) > 0 && m.state != splitEnded {
		buf, limit := &m.probe, m.probeMax
		if m.state == splitStage {
			buf, limit = &m.stage, m.stageMax
		}
		// A marker may have begun in an earlier write.
		from := max(0, buf.Len()-len(m.readyMark)+1)
		buf.Write(p)
		p = nil
		b := buf.Bytes()
		at, mark := m.find(b[from:])
		if at < 0 {
			if buf.Len() > limit+len(m.readyMark) {
				buf.Truncate(limit)
				m.overflow()
			}
			break
		}
		at += from
		p = bytes.Clone(b[at+len(mark):])
		buf.Truncate(at)
		if buf.Len() > limit {
			buf.Truncate(limit)
			m.overflow()
			break
		}
		if m.state == splitProbe && bytes.Equal(mark, m.readyMark) {
			m.state = splitStage
			close(m.readied)
			continue
		}
		m.state = splitEnded
		close(m.ended)
	}
	return n, nil
}

// find returns the index and the marker found first in b: the ready or
// the end marker before the ready one, only the end marker after it.
func (m *markerSplitter) find(b []byte) (int, []byte) {
	end := bytes.Index(b, m.endMark)
	if m.state == splitProbe {
		if ready := bytes.Index(b, m.readyMark); ready >= 0 && (end < 0 || ready < end) {
			return ready, m.readyMark
		}
	}
	if end < 0 {
		return -1, nil
	}
	return end, m.endMark
}

func (m *markerSplitter) overflow() {
	m.state = splitEnded
	if !m.overflowed {
		m.overflowed = true
		close(m.ended)
		if m.over != nil {
			m.over()
		}
	}
}
