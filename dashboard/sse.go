package dashboard

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Log streaming: how long one read waits for new lines, and how long one
// stream lasts before the browser reconnects (EventSource does, sending
// Last-Event-ID, so no line is lost or repeated).
const (
	logBlock  = 2 * time.Second
	logStream = 5 * time.Minute
)

// runLog streams a run's log as server-sent events: one "line" event per
// line (its data JSON-free text: "stream\ttext"), with the line's stream
// entry id as the event id, then one "end" event with the run's final
// state when it has ended and its log is read.
func (d *Dashboard) runLog(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ctx := r.Context()
	run, err := d.src.Run(ctx, id)
	if err != nil || run == nil {
		http.Error(w, "dashboard: no run "+clean(id)+" (unknown or expired)", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	if r.Method == http.MethodHead {
		return
	}
	rc := http.NewResponseController(w)
	from := r.Header.Get("Last-Event-ID")
	if from == "" {
		from = r.URL.Query().Get("from")
	}
	if from == "" || strings.ContainsAny(from, "\r\n") {
		from = "0"
	}
	end := time.Now().Add(logStream)
	for ctx.Err() == nil && time.Now().Before(end) {
		_ = rc.SetWriteDeadline(time.Now().Add(logBlock + 30*time.Second))
		done := false
		if run, err = d.src.Run(ctx, id); err == nil && run != nil {
			done = run.State.Terminal()
		}
		lines, next, err := d.src.Logs(ctx, id, from, logBlock)
		if err != nil {
			fmt.Fprintf(w, "event: problem\ndata: %s\n\n", oneLine(err.Error()))
			_ = rc.Flush()
			return
		}
		for _, l := range lines {
			fmt.Fprintf(w, "id: %s\nevent: line\ndata: %s\t%s\n\n", l.ID, oneLine(l.Stream), oneLine(l.Text))
		}
		from = next
		if done && len(lines) == 0 {
			fmt.Fprintf(w, "event: end\ndata: %s exit %d\n\n", run.State, run.ExitCode)
			_ = rc.Flush()
			return
		}
		if len(lines) == 0 {
			fmt.Fprint(w, ": keep-alive\n\n")
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// oneLine makes text fit one SSE data line: cleaned (no control
// characters, so no CR or LF) for the browser, which sets it as text.
func oneLine(s string) string { return clean(s) }
