package reconcile

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Colors for a terminal; empty strings print plain text.
type Colors struct{ Add, Change, Remove, Reset string }

// ANSI colors.
var ANSI = Colors{Add: "\x1b[32m", Change: "\x1b[33m", Remove: "\x1b[31m", Reset: "\x1b[0m"}

// WriteText prints the plan for people: a header, one line per action
// (+ deploy to a new host, ~ change, ! drift repair, - remove), then the
// hosts that are not in sync.
func (p *Plan) WriteText(w io.Writer, c Colors) error {
	var b strings.Builder
	fmt.Fprintf(&b, "plan %s: cluster %s", p.ID, p.Cluster)
	if p.Env != "" {
		fmt.Fprintf(&b, " (env %s)", p.Env)
	}
	if p.Fleet != "" {
		fmt.Fprintf(&b, ", fleet %s only", p.Fleet)
	}
	fmt.Fprintf(&b, ", %s → %s, generation %d\n", orNone(p.From), short(p.To), p.Generation)
	switch {
	case p.Empty() && p.Fleet != "":
		b.WriteString("no changes: fleet " + p.Fleet + " is in sync with " + short(p.To) + "\n")
	case p.Empty():
		b.WriteString("no changes: the cluster is in sync with " + short(p.To) + "\n")
	}
	for _, a := range p.Actions {
		mark, color := "~", c.Change
		switch {
		case a.Kind == KindRemove:
			mark, color = "-", c.Remove
		case a.Reason == ReasonNewHost:
			mark, color = "+", c.Add
		case a.Corrective():
			mark = "!"
		}
		reset := c.Reset
		if color == "" {
			reset = ""
		}
		fmt.Fprintf(&b, "%s%s %s%s\n", color, mark, a, reset)
	}
	for _, f := range p.Hosts {
		if f.State != StateInSync && f.State != StatePending {
			fmt.Fprintf(&b, "  %s: %s (%s)\n", f.Host, f.State, f.Detail)
		}
	}
	for _, n := range p.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	if !p.Empty() {
		deploys, drift := 0, 0
		for _, a := range p.Actions {
			if a.Kind == KindDeploy {
				deploys++
			}
			if a.Corrective() {
				drift++
			}
		}
		fmt.Fprintf(&b, "%s: %s", plural(len(p.Actions), "action"), plural(deploys, "deploy"))
		if drift > 0 {
			fmt.Fprintf(&b, " (%d repairing drift)", drift)
		}
		if r := len(p.Removes()); r > 0 {
			fmt.Fprintf(&b, ", %s", plural(r, "removal"))
		}
		if p.ReloadsScheduler() {
			b.WriteString(", scheduler reload")
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Encode is the plan's JSON form.
func (p *Plan) Encode() ([]byte, error) { return json.MarshalIndent(p, "", "  ") }

// DecodePlan reads a plan saved by Encode.
func DecodePlan(b []byte) (*Plan, error) {
	var p Plan
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("read plan: %w (is it a file written by cl plan --out?)", err)
	}
	if p.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("read plan: format_version %d, this cl reads %d: run cl plan again", p.FormatVersion, FormatVersion)
	}
	if p.ID == "" || p.To == "" {
		return nil, fmt.Errorf("read plan: no id or target SHA: is it a file written by cl plan --out?")
	}
	return &p, nil
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
