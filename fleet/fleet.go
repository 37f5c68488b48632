package fleet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/queue"
)

// State reads and switches the active fleet; *queue.Queue implements it.
type State interface {
	ActiveFleet(ctx context.Context) (queue.FleetState, error)
	SwitchFleet(ctx context.Context, from, to, by string) (queue.FleetState, bool, error)
}

// Active returns the name of the active fleet of cfg ("" without fleets)
// and the recorded state. Until the first switch it is cfg's first fleet.
func Active(ctx context.Context, cfg *config.Config, st State) (string, queue.FleetState, error) {
	if !cfg.HasFleets() {
		return "", queue.FleetState{}, nil
	}
	fs, err := st.ActiveFleet(ctx)
	if err != nil {
		return "", fs, err
	}
	if fs.Active == "" {
		return cfg.Fleets()[0], fs, nil
	}
	return fs.Active, fs, nil
}

// Route returns the fleet a task or deploy goes to: explicit (--cluster)
// when given, which must be a fleet of cfg; else the active fleet; "" when
// cfg has no fleets (no routing: every host).
func Route(ctx context.Context, cfg *config.Config, st State, explicit string) (string, error) {
	if explicit != "" {
		if !cfg.HasFleet(explicit) {
			return "", fmt.Errorf("--cluster %s: %w", explicit, cfg.UnknownFleetError(explicit))
		}
		return explicit, nil
	}
	if !cfg.HasFleets() {
		return "", nil
	}
	name, _, err := Active(ctx, cfg, st)
	return name, err
}

// Fleet is one fleet in a Report.
type Fleet struct {
	Name   string   `json:"name"`
	Active bool     `json:"active"`
	Hosts  []string `json:"hosts"`
	Queues []string `json:"queues"`
	// Applied is the SHA applied to the fleet: its own from a fleet-only
	// apply (cl apply --cluster), else the cluster's ("" : none).
	// ApplyError is why its last fleet-only apply failed.
	Applied    string `json:"applied,omitempty"`
	ApplyError string `json:"apply_error,omitempty"`
}

// Report is the fleets part of `cl cluster status`.
type Report struct {
	Active string           `json:"active"`
	State  queue.FleetState `json:"state"`
	Fleets []Fleet          `json:"fleets"`
	// Unknown is set when the recorded active fleet has no host in cl.yaml:
	// the beat fires to no host and tasks without --cluster fail.
	Unknown bool `json:"unknown_active,omitempty"`
}

// Status reports the fleets of cfg; nil without fleets.
func Status(ctx context.Context, cfg *config.Config, st State) (*Report, error) {
	if !cfg.HasFleets() {
		return nil, nil
	}
	active, fs, err := Active(ctx, cfg, st)
	if err != nil {
		return nil, err
	}
	rep := &Report{Active: active, State: fs, Unknown: !cfg.HasFleet(active)}
	for _, name := range cfg.Fleets() {
		f := Fleet{Name: name, Active: name == active, Queues: Queues(cfg, name)}
		for _, h := range cfg.FleetHosts(name) {
			f.Hosts = append(f.Hosts, h.Name)
		}
		rep.Fleets = append(rep.Fleets, f)
	}
	return rep, nil
}

// Queues are the queues of one fleet: its role queues, then its hosts'.
func Queues(cfg *config.Config, name string) []string {
	var out []string
	seen := map[string]bool{}
	for _, h := range cfg.FleetHosts(name) {
		if w, ok := cfg.Workers.Get(h.Role); ok {
			if q := queue.FleetQueue(queue.RoleQueue(w.Queue), name); !seen[q] {
				seen[q] = true
				out = append(out, q)
			}
		}
	}
	for _, h := range cfg.FleetHosts(name) {
		out = append(out, queue.HostQueue(h.Name))
	}
	return out
}

// SwitchResult is what Switch did.
type SwitchResult struct {
	From    string           `json:"from"`
	To      string           `json:"to"`
	Changed bool             `json:"changed"`
	State   queue.FleetState `json:"state"`
	// Acked are the running beats that reported the new generation within
	// AckWait; Pending those that did not (still correct: their claims are
	// refused until they re-plan for the new fleet).
	Acked   []string `json:"acked_by"`
	Pending []string `json:"not_acked_by,omitempty"`
}

// Beats is the beats' side of a switch (schedule.Switching).
type Beats interface {
	// Serves reports whether the published schedule set lists hosts of
	// fleet name (true when no set is published yet); why says what not.
	Serves(ctx context.Context, name string) (ok bool, why string, err error)
	// Await announces generation gen and waits up to wait for every
	// running beat to report it.
	Await(ctx context.Context, gen int64, wait time.Duration) (acked, pending []string, err error)
}

// AckWait is how long a switch waits for the running beats to report it.
const AckWait = 5 * time.Second

// ErrNotServed refuses a switch to a fleet the published schedule set has
// no host of: the beats would fire every schedule to no host.
var ErrNotServed = errors.New("the beats cannot fire to it")

// Switch makes fleet to the active one. The beat's next claim and every
// `cl task` without --cluster go to it; runs queued on the old fleet stay
// there. by names who switched (recorded with the state). With beats, a
// fleet the published schedule set has no host of is refused, and the
// switch waits up to AckWait for the running beats to report it.
func Switch(ctx context.Context, cfg *config.Config, st State, beats Beats, to, by string) (*SwitchResult, error) {
	if !cfg.HasFleet(to) {
		return nil, fmt.Errorf("switch: %w", cfg.UnknownFleetError(to))
	}
	from, fs, err := Active(ctx, cfg, st)
	if err != nil {
		return nil, err
	}
	if from == to {
		return &SwitchResult{From: from, To: to, State: fs}, nil
	}
	if beats != nil {
		ok, why, err := beats.Serves(ctx, to)
		if err != nil {
			return nil, fmt.Errorf("switch to fleet %s: %w", to, err)
		}
		if !ok {
			return nil, fmt.Errorf("switch to fleet %s refused: %w: %s; publish the commit that added its hosts first (cl apply, or let the agent apply it; a beat running cl.yaml: cl beat restart or SIGHUP)", to, ErrNotServed, why)
		}
	}
	ns, changed, err := st.SwitchFleet(ctx, fs.Active, to, by) // fs.Active is "" before the first switch
	if err != nil {
		return nil, err
	}
	res := &SwitchResult{From: from, To: to, Changed: changed, State: ns}
	if beats != nil && changed {
		if res.Acked, res.Pending, err = beats.Await(ctx, ns.Gen, AckWait); err != nil {
			return res, fmt.Errorf("switched to fleet %s, but could not tell the beats: %w (the next claim round sees it anyway)", to, err)
		}
	}
	return res, nil
}

// Line is the one-line summary of a switch.
func (r *SwitchResult) Line() string {
	if r.From == r.To {
		return fmt.Sprintf("fleet %s is already active (generation %d)", r.To, r.State.Gen)
	}
	line := fmt.Sprintf("switched the active fleet from %s to %s (generation %d): schedules and tasks without --cluster now go to %s; runs already queued on %s finish there",
		r.From, r.To, r.State.Gen, r.To, r.From)
	switch {
	case len(r.Pending) > 0:
		line += fmt.Sprintf("; not yet acknowledged by beat(s) %s within %s (their claims for %s are refused until they re-read it)", strings.Join(r.Pending, ", "), AckWait, r.From)
	case len(r.Acked) > 0:
		line += fmt.Sprintf("; acknowledged by %d beat(s)", len(r.Acked))
	}
	return line
}

// WriteText prints the report.
func (r *Report) WriteText(b io.Writer) {
	fmt.Fprintf(b, "fleets (active %s, generation %d):\n", r.Active, r.State.Gen)
	if r.Unknown {
		fmt.Fprintf(b, "  warning: the active fleet %s has no host in cl.yaml: `cl cluster switch` to one of the fleets below\n", r.Active)
	}
	for _, f := range r.Fleets {
		mark := " "
		if f.Active {
			mark = "*"
		}
		applied := ""
		if f.Applied != "" {
			applied = ", applied " + f.Applied[:min(12, len(f.Applied))]
		}
		if f.ApplyError != "" {
			applied += " (last fleet apply failed: " + strconv.Quote(f.ApplyError) + ")" // host text, escaped
		}
		fmt.Fprintf(b, "  %s %-12s %d hosts: %s%s\n", mark, f.Name, len(f.Hosts), strings.Join(f.Hosts, ", "), applied)
	}
}
