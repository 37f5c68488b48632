package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/celeroot/celeroot/deploy"
)

// printDeployReport prints the report: a table (text) or one JSON object
// of type "report" (after the event lines).
func printDeployReport(a *App, rep *deploy.Report) error {
	if a.JSON() {
		return json.NewEncoder(a.Stdout).Encode(struct {
			Type   string         `json:"type"`
			Report *deploy.Report `json:"report"`
		}{"report", rep})
	}
	w := a.Stdout
	fmt.Fprintf(w, "deploy of %s (id %s): %s", deploy.ShortVersion(rep.Version), rep.ID, rep.Strategy)
	if rep.Strategy == deploy.StrategyRolling {
		fmt.Fprintf(w, ", batch %d", rep.Batch)
	}
	if rep.Strategy == deploy.StrategyCanary {
		fmt.Fprintf(w, ", canary %d", rep.Canary)
	}
	fmt.Fprintf(w, ", max-fail %d\n", rep.MaxFail)
	t := newTable(w, "HOST", "OUTCOME", "FROM", "CURRENT", "WORKER", "SENT", "FILES", "TIME")
	for _, h := range rep.Hosts {
		files := "-"
		if h.Transfer != "" {
			files = fmt.Sprintf("%d sent, %d linked", h.FilesSent, h.FilesLinked)
		}
		t.row(h.Host, h.Outcome, short(h.From), short(h.Current), short(h.Worker), bytesIEC(uint64(h.BytesSent)), files,
			(time.Duration(h.Durations.Total) * time.Millisecond).Round(10*time.Millisecond))
	}
	t.flush()
	for _, h := range rep.Hosts {
		printHostProblem(a, h)
	}
	if rep.Stopped {
		fmt.Fprintf(w, "rollout stopped: %s\n", rep.StopReason)
	}
	fmt.Fprintf(w, "%s in %s, %s sent\n", rep.Summary(), rep.Finished.Sub(rep.Started).Round(10*time.Millisecond), bytesIEC(uint64(rep.BytesSent())))
	return nil
}

func printHostProblem(a *App, h deploy.HostReport) {
	w := a.Stdout
	if h.Error == "" || h.Outcome == deploy.OutcomeSkipped {
		return
	}
	fmt.Fprintf(w, "%s: %s", h.Host, h.Error)
	if h.FailedStep != "" {
		fmt.Fprintf(w, " (at %s)", h.FailedStep)
	}
	fmt.Fprintln(w)
	if rb := h.Rollback; rb != nil {
		switch {
		case rb.Error != "":
			fmt.Fprintf(w, "  rollback to %s: %s\n", short(rb.To), rb.Error)
		default:
			fmt.Fprintf(w, "  rolled back to %s, worker verified\n", short(rb.To))
		}
	}
	if h.SetupOutput != "" {
		fmt.Fprintf(w, "  setup_command output:\n%s\n", indent(h.SetupOutput, "    "))
	}
	if len(h.LogTail) > 0 {
		fmt.Fprintf(w, "  worker log (last %d lines):\n%s\n", len(h.LogTail), indent(strings.Join(h.LogTail, "\n"), "    "))
	}
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = prefix + lines[i]
	}
	return strings.Join(lines, "\n")
}
