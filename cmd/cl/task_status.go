package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/queue"
)

// taskStatus is the overview of `cl task status`.
type taskStatus struct {
	Workers []queue.Heartbeat  `json:"workers"`      // live workers, from their heartbeats
	Silent  []string           `json:"silent_hosts"` // hosts of cl.yaml without a live heartbeat
	Queues  []queue.QueueStats `json:"queues"`
	Running []runResult        `json:"running"`
}

// collectStatus reads heartbeats, queue depths and running runs.
func collectStatus(a *App, cfg *config.Config, q *queue.Queue) (*taskStatus, error) {
	st := &taskStatus{Workers: []queue.Heartbeat{}, Silent: []string{}, Running: []runResult{}}
	ws, err := q.Workers(a.Ctx)
	if err != nil {
		return nil, err
	}
	st.Workers = append(st.Workers, ws...)
	live := map[string]bool{}
	for _, w := range ws {
		live[w.Host] = true
	}
	for _, h := range cfg.Hosts.Values() {
		if !live[h.Name] {
			st.Silent = append(st.Silent, h.Name)
		}
	}
	if st.Queues, err = q.Stats(a.Ctx); err != nil {
		return nil, err
	}
	if st.Queues == nil {
		st.Queues = []queue.QueueStats{}
	}
	running, err := q.Running(a.Ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range running {
		st.Running = append(st.Running, runResult{Host: runHost(r), Run: r})
	}
	return st, nil
}

func printStatus(a *App, st *taskStatus) error {
	if a.JSON() {
		return a.PrintJSON(st)
	}
	now := time.Now()
	t := newTable(a.Stdout, "WORKER", "ROLE", "SHA", "SLOTS", "PROCESSED", "FAILED", "LAST_SEEN")
	for _, w := range st.Workers {
		t.row(w.Host, w.Role, shortSHA(w.SHA), fmt.Sprintf("%d/%d busy", w.SlotsBusy, w.Slots), w.Processed, w.Failed, ago(now, w.Time))
	}
	_ = t.flush()
	if len(st.Workers) == 0 {
		fmt.Fprintln(a.Stdout, "(no live worker)")
	}
	if len(st.Silent) > 0 {
		fmt.Fprintf(a.Stdout, "no heartbeat from: %s (worker stopped, or cannot reach Redis)\n", joinMax(st.Silent, 10))
	}
	fmt.Fprintln(a.Stdout)
	t = newTable(a.Stdout, "QUEUE", "WAITING", "PENDING", "RUNNING", "DELAYED")
	for _, s := range st.Queues {
		t.row(s.Queue, s.Waiting, s.Pending, s.Running, s.Delayed)
	}
	_ = t.flush()
	fmt.Fprintln(a.Stdout)
	if len(st.Running) == 0 {
		fmt.Fprintln(a.Stdout, "no task running")
		return nil
	}
	t = newTable(a.Stdout, "RUNNING", "TASK", "HOST", "STARTED", "ATTEMPT")
	for _, r := range st.Running {
		t.row(r.ID, r.Task, r.Host, ago(now, r.StartedAt), r.Attempt)
	}
	return t.flush()
}

// printRun prints one run's record: key: value lines, or its JSON.
func printRun(a *App, r *queue.Run) error {
	if a.JSON() {
		return a.PrintJSON(r)
	}
	t := newTable(a.Stdout, "id:", r.ID)
	task := r.Task
	if r.Module != "" {
		task += " (module " + r.Module + ")"
	}
	t.row("task:", task)
	t.row("target:", r.Target)
	t.row("state:", r.State)
	if r.State.Terminal() {
		t.row("exit code:", r.ExitCode)
	}
	if r.Reason != "" {
		t.row("reason:", r.Reason)
	}
	t.row("worker:", orDashStr(r.Worker))
	t.row("attempt:", fmt.Sprintf("%d of %d (deliveries %d)", r.Attempt+1, r.MaxRetries+1, r.Deliveries))
	if len(r.Params) > 0 {
		b, _ := json.Marshal(r.Params)
		t.row("params:", string(b))
	}
	t.row("created:", stamp(r.CreatedAt))
	t.row("started:", stamp(r.StartedAt))
	t.row("finished:", stamp(r.FinishedAt))
	t.row("duration:", runDuration(r))
	if r.ScheduleID != "" {
		t.row("schedule:", r.ScheduleID+" (tick "+stamp(r.Tick)+")")
	}
	return t.flush()
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05.000 MST")
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return now.Sub(t).Round(100*time.Millisecond).String() + " ago"
}

func shortSHA(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return orDashStr(s)
}

func joinMax(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s, … (%d hosts)", strings.Join(names[:n], ", "), len(names))
}
