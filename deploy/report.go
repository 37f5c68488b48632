package deploy

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Outcome is how a host's deploy ended.
type Outcome string

// Outcomes, from best to worst.
const (
	// OutcomeDeployed: the new release is current and its worker healthy.
	OutcomeDeployed Outcome = "deployed"
	// OutcomeUnchanged: the host already ran the release, healthy.
	OutcomeUnchanged Outcome = "unchanged"
	// OutcomeSkipped: not attempted (the rollout stopped first).
	OutcomeSkipped Outcome = "skipped"
	// OutcomeCancelled: interrupted before the switch (old release current)
	// or rolled back because of the interruption.
	OutcomeCancelled Outcome = "cancelled"
	// OutcomeRolledBack: switched, unhealthy (or the rollout stopped with
	// --rollback-on-failure), switched back; see Rollback.
	OutcomeRolledBack Outcome = "rolled-back"
	// OutcomeFailed: failed before the switch (the old release stayed
	// current), or failed and could not be rolled back.
	OutcomeFailed Outcome = "failed"
)

// Successful reports whether the host runs the release.
func (o Outcome) Successful() bool { return o == OutcomeDeployed || o == OutcomeUnchanged }

// Failed reports whether the host's deploy counts against the failure
// budget.
func (o Outcome) Failed() bool { return o == OutcomeFailed || o == OutcomeRolledBack }

// Step names a stage of a host's deploy.
type Step string

// The steps of a host deploy, in order.
const (
	StepConnect  Step = "connect"
	StepProbe    Step = "probe"
	StepTransfer Step = "transfer"
	StepSetup    Step = "setup"
	StepService  Step = "service"
	StepSwitch   Step = "switch"
	StepHealth   Step = "health"
	StepRollback Step = "rollback"
	StepDone     Step = "done"
	// StepRollout is a rollout-level event (batch started, rollout stopped).
	StepRollout Step = "rollout"
)

// Status is an event's status.
type Status string

// Event statuses.
const (
	StatusStart  Status = "start"
	StatusOK     Status = "ok"
	StatusFailed Status = "failed"
	StatusInfo   Status = "info"
)

// Event is one progress event of a deploy, for live displays and JSON
// event streams.
type Event struct {
	Time    time.Time `json:"time"`
	Host    string    `json:"host,omitempty"`
	Step    Step      `json:"step"`
	Status  Status    `json:"status"`
	Message string    `json:"message,omitempty"`
	Bytes   int64     `json:"bytes,omitempty"`
	Outcome Outcome   `json:"outcome,omitempty"`
}

// Durations are the times a host spent in each step, in milliseconds.
type Durations struct {
	Probe    int64 `json:"probe_ms"`
	Transfer int64 `json:"transfer_ms"`
	Setup    int64 `json:"setup_ms"`
	Service  int64 `json:"service_ms"`
	Switch   int64 `json:"switch_ms"`
	Health   int64 `json:"health_ms"`
	Rollback int64 `json:"rollback_ms"`
	Total    int64 `json:"total_ms"`
}

func (d *Durations) add(s Step, t time.Duration) {
	ms := t.Milliseconds()
	switch s {
	case StepConnect, StepProbe:
		d.Probe += ms
	case StepTransfer:
		d.Transfer += ms
	case StepSetup:
		d.Setup += ms
	case StepService:
		d.Service += ms
	case StepSwitch:
		d.Switch += ms
	case StepHealth:
		d.Health += ms
	case StepRollback:
		d.Rollback += ms
	}
}

// Rollback says how a host was switched back.
type Rollback struct {
	To       string `json:"to"`              // release switched back to ("" : none, the worker was stopped)
	Reason   string `json:"reason"`          // why
	Verified bool   `json:"verified"`        // the worker reported To again
	Error    string `json:"error,omitempty"` // what went wrong while rolling back
}

// HostReport is one host's part of a deploy report.
type HostReport struct {
	Host    string  `json:"host"`
	Address string  `json:"address"`
	Arch    string  `json:"arch,omitempty"`
	From    string  `json:"from"` // release current before the deploy ("" none, "?" unknown)
	To      string  `json:"to"`
	Outcome Outcome `json:"outcome"`
	// FailedStep and Error say where and why it failed; Reason is a short
	// word for unreachable hosts (timeout, refused, connection lost, …).
	FailedStep Step   `json:"failed_step,omitempty"`
	Error      string `json:"error,omitempty"`
	Reason     string `json:"reason,omitempty"`
	// Transfer is "delta" (hard links plus the changed files), "full"
	// (nothing to link from), or "none" (the release was on the host).
	Transfer string `json:"transfer,omitempty"`
	// Reloaded: the worker took the release with a reload (SIGUSR1), not
	// a restart (only task files changed).
	Reloaded bool `json:"reloaded,omitempty"`
	// Helper: the host's own cl (the deploying build, bin/cl of the
	// current release) probed and staged, not the shell library.
	Helper       bool      `json:"helper,omitempty"`
	BytesSent    int64     `json:"bytes_sent"`
	FilesSent    int       `json:"files_sent"`
	FilesLinked  int       `json:"files_linked"`
	FilesRemoved int       `json:"files_removed"`
	SetupOutput  string    `json:"setup_output,omitempty"`
	Rollback     *Rollback `json:"rollback,omitempty"`
	// LogTail holds the worker's last log lines when it failed its health
	// check.
	LogTail []string `json:"log_tail,omitempty"`
	Pruned  []string `json:"pruned,omitempty"`
	// Current is the release `current` points to at the end, as far as the
	// deploy knows ("?" when it cannot tell); Worker is the release the
	// host's worker heartbeat reports at the end ("" when none is alive).
	Current   string    `json:"current"`
	Worker    string    `json:"worker"`
	Durations Durations `json:"durations"`
	Started   time.Time `json:"started"`
	Finished  time.Time `json:"finished"`
}

// Report is the plain-data result of a deploy, for display and the audit
// trail.
type Report struct {
	ID          string       `json:"id"`
	Version     string       `json:"version"`
	Commit      string       `json:"commit"`
	Dirty       bool         `json:"dirty,omitempty"`
	Command     string       `json:"command,omitempty"`
	Strategy    Strategy     `json:"strategy"`
	Batch       int          `json:"batch"`
	MaxFail     int          `json:"max_fail"`
	Canary      int          `json:"canary,omitempty"`
	Started     time.Time    `json:"started"`
	Finished    time.Time    `json:"finished"`
	Hosts       []HostReport `json:"hosts"`
	Stopped     bool         `json:"stopped,omitempty"`
	StopReason  string       `json:"stop_reason,omitempty"`
	Interrupted bool         `json:"interrupted,omitempty"`
}

// Counts returns the number of hosts per outcome.
func (r *Report) Counts() map[Outcome]int {
	c := map[Outcome]int{}
	for _, h := range r.Hosts {
		c[h.Outcome]++
	}
	return c
}

// OK reports whether every host runs the release.
func (r *Report) OK() bool {
	for _, h := range r.Hosts {
		if !h.Outcome.Successful() {
			return false
		}
	}
	return true
}

// BytesSent is the total over all hosts.
func (r *Report) BytesSent() int64 {
	var n int64
	for _, h := range r.Hosts {
		n += h.BytesSent
	}
	return n
}

// Summary is a one-line account: "3 deployed, 1 rolled-back, 2 skipped".
func (r *Report) Summary() string {
	c := r.Counts()
	order := []Outcome{OutcomeDeployed, OutcomeUnchanged, OutcomeRolledBack, OutcomeFailed, OutcomeCancelled, OutcomeSkipped}
	var parts []string
	for _, o := range order {
		if c[o] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c[o], o))
		}
	}
	return strings.Join(parts, ", ")
}

// sortHosts orders host reports as the hosts were given.
func sortHosts(reps []HostReport, order map[string]int) {
	sort.SliceStable(reps, func(i, j int) bool { return order[reps[i].Host] < order[reps[j].Host] })
}
