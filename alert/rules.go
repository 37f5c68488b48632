package alert

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/observe"
)

// Facts are what the conditions are judged on; the agent gathers them.
type Facts struct {
	Metrics     *observe.Metrics // nil: not read (Redis down): its conditions are not judged
	Workers     int              // live workers
	WorkersRead bool             // Workers is known
	Unreachable []string         // hosts the last drift check could not reach
	Drifted     []string         // hosts the last drift check found drifted
	ApplyFailed string           // the error of the last apply; "": it succeeded (or none yet)
	ApplySHA    string           // the commit of the last apply
}

// Evaluate returns the conditions firing for the thresholds of
// monitoring.metrics and the built-in ones: each unreachable host
// (host_down), each drifted host (drift) and a failed last apply
// (apply_failed).
func Evaluate(thresholds []config.Metric, f Facts) []Condition {
	var out []Condition
	add := func(key string, v, limit float64, format string, args ...any) {
		out = append(out, Condition{Key: key, Summary: fmt.Sprintf(format, args...), Value: v, Limit: limit})
	}
	for _, t := range thresholds {
		switch t.Name {
		case "task_execution_time":
			for _, tm := range tasks(f) {
				if p := tm.Recent.P95.Seconds(); tm.Recent.Count > 0 && p > t.Threshold {
					add("task_execution_time:"+tm.Task, p, t.Threshold, "task %s takes %s (p95 of its last %d runs), above %gs",
						tm.Task, tm.Recent.P95.Round(time.Millisecond), tm.Recent.Count, t.Threshold)
				}
			}
		case "task_failure_rate":
			for _, tm := range tasks(f) {
				if tm.Recent.Count > 0 && tm.RecentFailureRate > t.Threshold {
					add("task_failure_rate:"+tm.Task, tm.RecentFailureRate, t.Threshold, "task %s fails %.1f%% of its last %d runs, above %g%%",
						tm.Task, tm.RecentFailureRate, tm.Recent.Count, t.Threshold)
				}
			}
		case "queue_size":
			if f.Metrics == nil {
				continue
			}
			for _, s := range f.Metrics.Queues {
				if n := float64(observe.QueueSize(s)); n > t.Threshold {
					add("queue_size:"+s.Queue, n, t.Threshold, "queue %s holds %d tasks, above %g", s.Queue, int64(n), t.Threshold)
				}
			}
		case "worker_count":
			if f.WorkersRead && float64(f.Workers) < t.Threshold {
				add("worker_count", float64(f.Workers), t.Threshold, "%d workers live, below %g", f.Workers, t.Threshold)
			}
		case "host_unreachable":
			if n := float64(len(f.Unreachable)); n > t.Threshold {
				add("host_unreachable", n, t.Threshold, "%d hosts unreachable (%s), above %g", len(f.Unreachable), strings.Join(f.Unreachable, ", "), t.Threshold)
			}
		case "deploy_duration":
			if f.Metrics == nil {
				continue
			}
			if d := f.Metrics.Op("deploy").LastTook; d.Seconds() > t.Threshold {
				add("deploy_duration", d.Seconds(), t.Threshold, "the last deploy took %s, above %gs", d.Round(time.Second), t.Threshold)
			}
		}
	}
	for _, h := range sorted(f.Unreachable) {
		add("host_down:"+h, 1, 0, "host %s is down (unreachable over SSH)", h)
	}
	for _, h := range sorted(f.Drifted) {
		add("drift:"+h, 1, 0, "host %s drifted from what was applied to it", h)
	}
	if f.ApplyFailed != "" {
		add("apply_failed", 1, 0, "the apply of %s failed: %s", short(f.ApplySHA), firstLine(f.ApplyFailed))
	}
	return out
}

func tasks(f Facts) []observe.TaskMetrics {
	if f.Metrics == nil {
		return nil
	}
	return f.Metrics.Tasks
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func short(sha string) string {
	if len(sha) > 10 {
		return sha[:10]
	}
	return sha
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
