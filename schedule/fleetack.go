package schedule

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/celeroot/celeroot/queue"
)

// The beats' side of a blue-green switch (`cl cluster switch`, package
// fleet). Correctness does not depend on it — the claim script refuses a
// fire planned for a fleet that is no longer active — but it lets the
// switch refuse a fleet the beats cannot fire to, and say when every
// running beat has seen the switch.

// fleetAnnounce prefixes the event a switch announces: "fleet <gen>".
const fleetAnnounce = "fleet "

// noteFleet reads the active fleet and, when it changed, records it for
// the member record and writes that at once (the switch waits for it).
func (b *Beat) noteFleet(ctx context.Context) {
	st, err := b.st.ActiveFleet(ctx)
	if err != nil {
		b.log.Debug("read the active fleet", "err", err)
		return
	}
	b.setFleet(st)
}

func (b *Beat) setFleet(st queue.FleetState) {
	b.mu.Lock()
	changed := st.Gen != b.fleet.Gen || st.Active != b.fleet.Active
	b.fleet = st
	b.mu.Unlock()
	if !changed {
		return
	}
	b.log.Info("active fleet", "fleet", st.Active, "generation", st.Gen)
	select {
	case b.told <- struct{}{}:
	default:
	}
}

// SwitchBeats is what `cl cluster switch` asks of the beats of one
// namespace (package fleet's Beats).
type SwitchBeats struct{ st store }

// Switching returns the SwitchBeats of q's namespace.
func Switching(q *queue.Queue) SwitchBeats { return SwitchBeats{st: q.Beat()} }

// Serves reports whether the published schedule set can fire to fleet
// name: it lists hosts of that fleet. With no set published yet nothing
// fires anywhere, and the switch is allowed. why says what is missing.
func (s SwitchBeats) Serves(ctx context.Context, name string) (ok bool, why string, err error) {
	pub, err := readPublished(ctx, s.st, true)
	if err != nil || pub == nil {
		return err == nil, "", err
	}
	for _, h := range pub.Set.Hosts {
		if h.Fleet == name {
			return true, "", nil
		}
	}
	label := "digest " + pub.Digest
	if pub.SHA != "" {
		label = "sha " + pub.SHA[:min(12, len(pub.SHA))]
	}
	return false, fmt.Sprintf("the published schedule set (%s, gen %d, by %s) has no host of fleet %s", label, pub.Gen, pub.Source, name), nil
}

// Await tells the beats that the active fleet is now at generation gen and
// waits up to wait until every running beat reports it (its member
// record's fleet_gen). It returns the beats that did and those that did
// not (a beat that died lingers until its record expires).
func (s SwitchBeats) Await(ctx context.Context, gen int64, wait time.Duration) (acked, pending []string, err error) {
	if err := s.st.Announce(ctx, fleetAnnounce+strconv.FormatInt(gen, 10)); err != nil {
		return nil, nil, fmt.Errorf("tell the beats: %w", err)
	}
	deadline := time.Now().Add(wait)
	for {
		ms, err := readMembers(ctx, s.st)
		if err != nil {
			return nil, nil, err
		}
		acked, pending = nil, nil
		for _, m := range ms {
			if m.FleetGen >= gen {
				acked = append(acked, m.ID)
			} else {
				pending = append(pending, m.ID)
			}
		}
		if len(pending) == 0 || !time.Now().Before(deadline) {
			return acked, pending, nil
		}
		if !queue.Sleep(ctx, 50*time.Millisecond) {
			return acked, pending, ctx.Err()
		}
	}
}

// isFleetEvent reports whether an event announces a switch.
func isFleetEvent(msg string) bool { return strings.HasPrefix(msg, fleetAnnounce) }
