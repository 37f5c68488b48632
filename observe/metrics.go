package observe

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/termtext"
)

// MetricsReader is what Collect reads (*queue.Queue).
type MetricsReader interface {
	Queues(ctx context.Context) ([]string, error)
	Stats(ctx context.Context, queues ...string) ([]queue.QueueStats, error)
	TaskTimings(ctx context.Context, queue string) ([]queue.Timing, error)
	OpTimingsOf(ctx context.Context, kind string) ([]queue.Timing, error)
}

// Quantiles summarise durations: nearest-rank quantiles of the window.
type Quantiles struct {
	Count int           `json:"count"`
	Sum   time.Duration `json:"sum_ns"`
	P50   time.Duration `json:"p50_ns"`
	P95   time.Duration `json:"p95_ns"`
	P99   time.Duration `json:"p99_ns"`
	Max   time.Duration `json:"max_ns"`
}

// TaskMetrics are one task's figures over the recorded window.
type TaskMetrics struct {
	Task   string `json:"task"`
	Runs   int    `json:"runs"`
	Failed int    `json:"failed"` // failed or killed
	// FailureRate is Failed / Runs in percent (monitoring.metrics'
	// task_failure_rate).
	FailureRate float64   `json:"failure_rate"`
	Time        Quantiles `json:"time"`
	// Recent are the figures of the last RecentRuns executions, which
	// alerts judge (they resolve once the recent runs are fine again).
	Recent            Quantiles `json:"recent"`
	RecentFailureRate float64   `json:"recent_failure_rate"`
}

// RecentRuns is how many of a task's latest executions Recent covers.
const RecentRuns = 100

// OpMetrics are the figures of one kind of operation (apply, deploy).
type OpMetrics struct {
	Kind   string    `json:"kind"`
	Count  int       `json:"count"`
	Failed int       `json:"failed"`
	Time   Quantiles `json:"time"`
	Last   time.Time `json:"last,omitzero"`
	// LastTook is how long the last one took.
	LastTook time.Duration `json:"last_took_ns"`
}

// Metrics is the report of `cl cluster metrics`.
type Metrics struct {
	At     time.Time          `json:"at"`
	Window int                `json:"window"` // executions kept per queue (and per operation kind)
	Tasks  []TaskMetrics      `json:"tasks"`
	Queues []queue.QueueStats `json:"queues"`
	Ops    []OpMetrics        `json:"operations"`
}

// QueueSize is a queue's size for thresholds: waiting, delayed and
// delivered but unfinished runs.
func QueueSize(s queue.QueueStats) int64 { return s.Waiting + s.Pending + s.Delayed }

// OpKinds are the operations whose durations are recorded.
var OpKinds = []string{"apply", "deploy"}

// Collect computes the metrics of the given queues (and every other queue
// that ever had a run) from what Redis keeps.
func Collect(ctx context.Context, r MetricsReader, queues []string) (*Metrics, error) {
	known, err := r.Queues(ctx)
	if err != nil {
		return nil, err
	}
	all := append([]string(nil), queues...)
	for _, q := range known {
		if !slices.Contains(all, q) {
			all = append(all, q)
		}
	}
	slices.Sort(all)
	m := &Metrics{At: time.Now(), Window: queue.TimingsWindow, Tasks: []TaskMetrics{}, Queues: []queue.QueueStats{}}
	if len(all) > 0 {
		if m.Queues, err = r.Stats(ctx, all...); err != nil {
			return nil, err
		}
	}
	byTask := map[string][]queue.Timing{}
	for _, q := range all {
		ts, err := r.TaskTimings(ctx, q)
		if err != nil {
			return nil, err
		}
		for _, t := range ts {
			byTask[t.Name] = append(byTask[t.Name], t)
		}
	}
	for name, ts := range byTask {
		tm := TaskMetrics{Task: name, Runs: len(ts), Time: quantiles(ts)}
		for _, t := range ts {
			if t.Outcome != "succeeded" {
				tm.Failed++
			}
		}
		tm.FailureRate = 100 * float64(tm.Failed) / float64(tm.Runs)
		slices.SortStableFunc(ts, func(a, b queue.Timing) int { return b.At.Compare(a.At) })
		recent := ts[:min(len(ts), RecentRuns)]
		tm.Recent = quantiles(recent)
		failed := 0
		for _, t := range recent {
			if t.Outcome != "succeeded" {
				failed++
			}
		}
		tm.RecentFailureRate = 100 * float64(failed) / float64(len(recent))
		m.Tasks = append(m.Tasks, tm)
	}
	slices.SortFunc(m.Tasks, func(a, b TaskMetrics) int { return cmp.Compare(a.Task, b.Task) })
	for _, k := range OpKinds {
		ts, err := r.OpTimingsOf(ctx, k)
		if err != nil {
			return nil, err
		}
		om := OpMetrics{Kind: k, Count: len(ts), Time: quantiles(ts)}
		for _, t := range ts {
			if t.Outcome != "ok" {
				om.Failed++
			}
			if t.At.After(om.Last) {
				om.Last, om.LastTook = t.At, t.Took
			}
		}
		m.Ops = append(m.Ops, om)
	}
	return m, nil
}

// quantiles of the durations, by nearest rank: the p-quantile of n sorted
// values is the ceil(p·n)-th.
func quantiles(ts []queue.Timing) Quantiles {
	if len(ts) == 0 {
		return Quantiles{}
	}
	ds := make([]time.Duration, len(ts))
	var sum time.Duration
	for i, t := range ts {
		ds[i] = t.Took
		sum += t.Took
	}
	slices.Sort(ds)
	rank := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(ds)))) - 1
		return ds[max(0, min(i, len(ds)-1))]
	}
	return Quantiles{Count: len(ds), Sum: sum, P50: rank(0.50), P95: rank(0.95), P99: rank(0.99), Max: ds[len(ds)-1]}
}

// Task returns the metrics of a task (ok false when it has no runs).
func (m *Metrics) Task(name string) (TaskMetrics, bool) {
	for _, t := range m.Tasks {
		if t.Task == name {
			return t, true
		}
	}
	return TaskMetrics{}, false
}

// Op returns the metrics of an operation kind.
func (m *Metrics) Op(kind string) OpMetrics {
	for _, o := range m.Ops {
		if o.Kind == kind {
			return o
		}
	}
	return OpMetrics{Kind: kind}
}

// WriteText renders the report as tables (names cleaned for a terminal,
// columns aligned by display width).
func (m *Metrics) WriteText(w io.Writer) error {
	tasks := &termtext.Table{}
	tasks.Row("TASK", "RUNS", "FAILED", "FAILURE RATE", "P50", "P95", "P99", "MAX")
	for _, t := range m.Tasks {
		tasks.Row(t.Task, itoa(int64(t.Runs)), itoa(int64(t.Failed)), fmt.Sprintf("%.1f%%", t.FailureRate),
			dur(t.Time.P50), dur(t.Time.P95), dur(t.Time.P99), dur(t.Time.Max))
	}
	if len(m.Tasks) == 0 {
		tasks.Row("(no task ran yet)")
	}
	queues := &termtext.Table{}
	queues.Row("QUEUE", "SIZE", "WAITING", "PENDING", "RUNNING", "DELAYED")
	for _, s := range m.Queues {
		queues.Row(s.Queue, itoa(QueueSize(s)), itoa(s.Waiting), itoa(s.Pending), itoa(s.Running), itoa(s.Delayed))
	}
	ops := &termtext.Table{}
	ops.Row("OPERATION", "COUNT", "FAILED", "P50", "P95", "P99", "MAX", "LAST")
	for _, o := range m.Ops {
		last := "never"
		if !o.Last.IsZero() {
			last = o.Last.Format(time.RFC3339)
		}
		ops.Row(o.Kind, itoa(int64(o.Count)), itoa(int64(o.Failed)), dur(o.Time.P50), dur(o.Time.P95), dur(o.Time.P99), dur(o.Time.Max), last)
	}
	for i, t := range []*termtext.Table{tasks, queues, ops} {
		if i > 0 {
			if _, err := io.WriteString(w, "\n"); err != nil {
				return err
			}
		}
		if _, err := t.WriteTo(w); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "\n(over the last %d executions of each queue and operation)\n", m.Window)
	return err
}

func dur(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return d.Round(time.Millisecond).String()
}
