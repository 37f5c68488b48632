package fleet

import (
	"context"
	"fmt"
	"io"
	"strings"

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
}

// Switch makes fleet to the active one. The beat's next claim and every
// `cl task` without --cluster go to it; runs queued on the old fleet stay
// there. by names who switched (recorded with the state).
func Switch(ctx context.Context, cfg *config.Config, st State, to, by string) (*SwitchResult, error) {
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
	ns, changed, err := st.SwitchFleet(ctx, fs.Active, to, by) // fs.Active is "" before the first switch
	if err != nil {
		return nil, err
	}
	return &SwitchResult{From: from, To: to, Changed: changed, State: ns}, nil
}

// Line is the one-line summary of a switch.
func (r *SwitchResult) Line() string {
	if r.From == r.To {
		return fmt.Sprintf("fleet %s is already active (generation %d)", r.To, r.State.Gen)
	}
	return fmt.Sprintf("switched the active fleet from %s to %s (generation %d): schedules and tasks without --cluster now go to %s; runs already queued on %s finish there",
		r.From, r.To, r.State.Gen, r.To, r.From)
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
		fmt.Fprintf(b, "  %s %-12s %d hosts: %s\n", mark, f.Name, len(f.Hosts), strings.Join(f.Hosts, ", "))
	}
}
