package adhoc

import (
	"fmt"
	"strings"
	"time"
)

// Outcome is how the command went on one host.
type Outcome struct {
	Host string `json:"host"`
	// ExitCode is the command's exit status (128+N when killed by signal
	// N); -1 when it did not run to an end (Error says why).
	ExitCode int    `json:"exit_code"`
	Signal   string `json:"signal,omitempty"`
	// Error and Reason: why the host did not run the command to its end
	// (Reason: "refused", "timeout", "host key unknown", …).
	Error       string        `json:"error,omitempty"`
	Reason      string        `json:"reason,omitempty"`
	Unreachable bool          `json:"unreachable,omitempty"`
	Duration    time.Duration `json:"duration_ns"`
	Stdout      string        `json:"stdout,omitempty"`
	Stderr      string        `json:"stderr,omitempty"`
	Truncated   bool          `json:"truncated,omitempty"` // Stdout or Stderr was cut at the capture limit
}

// OK reports whether the command exited zero on the host.
func (o Outcome) OK() bool { return o.Error == "" && o.ExitCode == 0 && o.Signal == "" }

// Status is how the host ended, in a few words: "exit 0 (12ms)",
// "exit 3 (1.2s)", "killed by TERM", "unreachable: refused", "timed out".
func (o Outcome) Status() string {
	d := o.Duration.Round(time.Millisecond)
	switch {
	case o.Unreachable:
		return "UNREACHABLE (" + o.Reason + ")"
	case o.Error != "" && o.Reason == "timeout":
		return fmt.Sprintf("TIMED OUT (%s)", d)
	case o.Error != "":
		return "FAILED (" + o.Reason + ")"
	case o.Signal != "":
		return fmt.Sprintf("killed by %s (%s)", o.Signal, d)
	}
	return fmt.Sprintf("exit %d (%s)", o.ExitCode, d)
}

// Report is the outcome of one run over many hosts.
type Report struct {
	Argv     []string      `json:"argv"`
	Hosts    []Outcome     `json:"hosts"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration_ns"`
}

// OK reports whether every host exited zero.
func (r *Report) OK() bool { return len(r.Failed()) == 0 }

// Failed returns the hosts that did not exit zero, in host order.
func (r *Report) Failed() []Outcome {
	var out []Outcome
	for _, o := range r.Hosts {
		if !o.OK() {
			out = append(out, o)
		}
	}
	return out
}

// Rows are the summary table: host, exit code ("-" when the command did
// not end), duration, and what went wrong.
func (r *Report) Rows() [][]string {
	rows := make([][]string, 0, len(r.Hosts))
	for _, o := range r.Hosts {
		code := fmt.Sprint(o.ExitCode)
		if o.ExitCode < 0 {
			code = "-"
		}
		note := ""
		switch {
		case o.Unreachable:
			note = "unreachable: " + firstLine(o.Error)
		case o.Error != "":
			note = firstLine(o.Error)
		case o.Signal != "":
			note = "killed by " + o.Signal
		}
		rows = append(rows, []string{o.Host, code, o.Duration.Round(time.Millisecond).String(), note})
	}
	return rows
}

// Err is nil when every host exited zero, else an error naming the hosts
// that did not: "2 of 5 hosts failed: web3 (exit 1), web4 (unreachable: refused)".
func (r *Report) Err() error {
	failed := r.Failed()
	if len(failed) == 0 {
		return nil
	}
	parts := make([]string, len(failed))
	for i, o := range failed {
		switch {
		case o.Unreachable:
			parts[i] = o.Host + " (unreachable: " + o.Reason + ")"
		case o.Error != "" && o.Reason == "timeout":
			parts[i] = o.Host + " (timed out)"
		case o.Error != "":
			parts[i] = o.Host + " (" + o.Reason + ")"
		case o.Signal != "":
			parts[i] = o.Host + " (killed by " + o.Signal + ")"
		default:
			parts[i] = fmt.Sprintf("%s (exit %d)", o.Host, o.ExitCode)
		}
	}
	return fmt.Errorf("%d of %d hosts failed: %s", len(failed), len(r.Hosts), strings.Join(parts, ", "))
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
