package drift

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteText prints the report: a line per host, its findings indented
// under it, then the unknown workers and a summary.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "desired %s, applied %s\n", short(r.Desired), orNothing(r.Applied))
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tROLE\tSTATE\tAPPLIED\tCURRENT")
	for _, h := range r.Hosts {
		state := string(h.State)
		if h.AssessOnly {
			state += " (assess-only)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", h.Host, h.Role, state, orDash(short(h.Applied)), orDash(short(h.Current)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, h := range r.Hosts {
		for _, f := range h.Findings {
			fmt.Fprintf(&b, "  %s: %s %s: %s\n", h.Host, f.Class, f.Kind, f.Detail)
		}
	}
	for _, f := range r.UnknownWorkers {
		fmt.Fprintf(&b, "  %s: %s %s: %s\n", f.Got, f.Class, f.Kind, f.Detail)
	}
	fmt.Fprintf(&b, "%d in sync, %d drifted, %d pending, %d unknown", r.Count(StateInSync), r.Count(StateDrifted), r.Count(StatePending), r.Count(StateUnknown))
	if n := len(r.UnknownWorkers); n > 0 {
		fmt.Fprintf(&b, "; %d unknown worker(s)", n)
	}
	if rep := r.Repairs(); len(rep) > 0 {
		fmt.Fprintf(&b, "; cl cluster reconcile repairs %d host(s)", len(rep))
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}
