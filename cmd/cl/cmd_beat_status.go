package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/celeroot/celeroot/schedule"
)

// BeatStatusCmd is `cl beat status`.
type BeatStatusCmd struct {
	Count int `short:"n" default:"1" help:"Next fire times shown per schedule."`
}

// Run prints the beats' status from Redis.
func (c *BeatStatusCmd) Run(a *App) error {
	_, q, err := loadQueue(a)
	if err != nil {
		return err
	}
	defer q.Close()
	st, err := schedule.ReadStatus(a.Ctx, q, c.Count)
	if err != nil {
		return err
	}
	if a.JSON() {
		return a.PrintJSON(st)
	}
	printBeatStatus(a, st)
	return nil
}

func printBeatStatus(a *App, st *schedule.Status) {
	w := a.Stdout
	fmt.Fprintf(w, "namespace: %s\n", st.Namespace)
	if l := st.Leader; l != nil {
		fmt.Fprintf(w, "leader:    %s (host %s, pid %d) since %s, epoch %d, lease expires in %s\n", l.ID, orDashStr(l.Host), l.PID,
			l.Since.Format(time.RFC3339), l.Epoch, (time.Duration(l.ExpiresInMS) * time.Millisecond).Round(time.Millisecond))
	} else {
		fmt.Fprintln(w, "leader:    none (no beat holds the lease: nothing fires)")
	}
	if p := st.Published; p != nil {
		fmt.Fprintf(w, "published: %s, %s, gen %d, by %s at %s\n", setLabel(p.SHA, p.Digest), plural(p.Schedules, "schedule"), p.Gen, p.Source, p.PublishedAt.Format(time.RFC3339))
	} else {
		fmt.Fprintln(w, "published: none (no beat has started in this namespace)")
	}
	switch f := st.Fleet; {
	case f == nil:
	case f.Default:
		fmt.Fprintf(w, "fleet:     %s (the first fleet of the schedule set: never switched)\n", f.Active)
	default:
		from := "" // the first switch leaves the (implicit) first fleet
		if f.Previous != "" {
			from = " from " + f.Previous
		}
		fmt.Fprintf(w, "fleet:     %s (generation %d, switched%s at %s by %s)\n", f.Active, f.Gen, from, f.SwitchedAt.Format(time.RFC3339), orNone(f.By))
	}
	fmt.Fprintln(w)
	t := newTable(w, "BEAT", "HOST", "PID", "ROLE", "SINCE", "LOADED", "SCHEDULES", "NEXT_FIRE", "FLEET_GEN")
	for _, m := range st.Beats {
		next := "-"
		if !m.NextFire.IsZero() {
			next = m.NextFire.Format(time.RFC3339)
		}
		fleet := "-" // the fleet generation the beat has seen
		if st.Fleet != nil {
			fleet = fmt.Sprint(m.FleetGen)
		}
		t.row(m.ID, m.Host, m.PID, m.Role, m.RoleSince.Format(time.RFC3339), setLabel(m.SHA, m.Digest), m.Schedules, next, fleet)
	}
	_ = t.flush()
	fmt.Fprintln(w)
	t = newTable(w, "SCHEDULE", "CRON", "TZ", "NEXT", "LAST_TICK", "HOSTS", "RESULTS")
	for _, s := range st.Schedules {
		next := "disabled"
		if s.Enabled {
			parts := make([]string, len(s.Next))
			for i, n := range s.Next {
				parts[i] = n.Format("2006-01-02 15:04:05 MST")
			}
			next = orNone(strings.Join(parts, ", "))
		}
		last, hosts, results := "-", "-", "-"
		if r := s.Last; r != nil {
			last = r.Tick.In(time.Local).Format(time.RFC3339)
			hosts = fmt.Sprintf("%d (%d new, %d dup, %d err)", r.Hosts, r.Enqueued, r.Duplicates, r.Errors)
			results = formatResults(s.Results)
			if r.Backup != nil {
				results = fmt.Sprintf("%s (%s)", r.Backup.File, plural(r.Backup.Keys, "key"))
			}
			if r.Error != "" {
				results += " error: " + r.Error
			}
		}
		t.row(s.Name, s.Cron, s.Timezone, next, last, hosts, results)
	}
	_ = t.flush()
}

func setLabel(sha, digest string) string {
	if sha != "" {
		return "sha " + sha[:min(12, len(sha))]
	}
	return "digest " + digest
}

func formatResults(m map[string]int) string {
	if len(m) == 0 {
		return "-"
	}
	return joinSorted(m, ", ", func(k string, n int) string { return fmt.Sprintf("%s %d", k, n) })
}

// printDryRun prints, per schedule, its next n fire times in its timezone
// and the hosts each would reach.
func printDryRun(a *App, set *schedule.Set, n int) error {
	rows, err := set.DryRun(time.Now(), n)
	if err != nil {
		return err
	}
	if a.JSON() {
		return a.PrintJSON(rows)
	}
	for _, r := range rows {
		state := ""
		if !r.Enabled {
			state = " (disabled: never fires)"
		}
		fmt.Fprintf(a.Stdout, "%s  %q  %s%s\n", r.Schedule, r.Cron, r.Timezone, state)
		fmt.Fprintf(a.Stdout, "  hosts: %s\n", orNone(strings.Join(r.Hosts, ", ")))
		for _, p := range r.Problems {
			fmt.Fprintf(a.Stdout, "  problem: %s\n", p)
		}
		for _, t := range r.Next {
			fmt.Fprintf(a.Stdout, "  %s\n", t.Format("Mon 2006-01-02 15:04:05 MST"))
		}
	}
	return nil
}
