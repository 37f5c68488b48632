package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/celeroot/celeroot/dispatch"
	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/schedule"
)

// TaskStatusCmd is `cl task status`.
type TaskStatusCmd struct {
	TaskID string `name:"task-id" placeholder:"ID" help:"Show this run's record instead of the overview."`
}

// Run prints the overview or one run.
func (c *TaskStatusCmd) Run(a *App) error {
	cfg, q, err := loadQueue(a)
	if err != nil {
		return err
	}
	defer q.Close()
	if c.TaskID != "" {
		r, err := getRun(a, q, c.TaskID)
		if err != nil {
			return err
		}
		return printRun(a, r)
	}
	st, err := dispatch.Collect(a.Ctx, cfg, q, dispatch.WithBeat(schedule.StatusOf(q)))
	if err != nil {
		return err
	}
	return printStatus(a, st)
}

func printStatus(a *App, st *dispatch.Status) error {
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
	fmt.Fprintf(a.Stdout, "(queues read just now; PROCESSED, FAILED and SLOTS as of each worker's LAST_SEEN: heartbeats every %v, within 1s of a finished run)\n",
		st.HeartbeatEvery.Round(time.Second))
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
