package agent

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/celeroot/celeroot/observe"
)

// The figures of `cl cluster metrics` on /metrics, read from Redis at each
// scrape (within clusterScrapeTimeout; a failed read exports
// cl_cluster_metrics_up 0 and nothing else).
var (
	clusterUpDesc = prometheus.NewDesc("cl_cluster_metrics_up",
		"1 when the cluster's figures could be read from Redis at this scrape.", nil, nil)
	taskTimeDesc = prometheus.NewDesc("cl_task_duration_seconds",
		"Task execution time over the recorded window (the last executions of each queue).", []string{"task"}, nil)
	taskRunsDesc = prometheus.NewDesc("cl_task_window_runs",
		"Executions of a task in the recorded window.", []string{"task"}, nil)
	taskFailDesc = prometheus.NewDesc("cl_task_failure_rate_percent",
		"Failed or killed executions of a task in the recorded window, in percent.", []string{"task"}, nil)
	queueSizeDesc = prometheus.NewDesc("cl_queue_size",
		"Runs of a queue by state (waiting, pending, running, delayed).", []string{"queue", "state"}, nil)
	opTimeDesc = prometheus.NewDesc("cl_cluster_operation_duration_seconds",
		"Duration of applies and their deploys (by any agent or cl apply) over the recorded window.", []string{"kind"}, nil)
	opFailDesc = prometheus.NewDesc("cl_cluster_operation_failures",
		"Failed applies and deploys in the recorded window.", []string{"kind"}, nil)
)

const clusterScrapeTimeout = 5 * time.Second

// ClusterMetrics exports the cluster's task, queue and apply figures,
// computed by collect at each scrape.
func (m *Metrics) ClusterMetrics(collect func(context.Context) (*observe.Metrics, error)) {
	m.Registry.MustRegister(clusterCollector{collect})
}

type clusterCollector struct {
	collect func(context.Context) (*observe.Metrics, error)
}

func (c clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{clusterUpDesc, taskTimeDesc, taskRunsDesc, taskFailDesc, queueSizeDesc, opTimeDesc, opFailDesc} {
		ch <- d
	}
}

func (c clusterCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), clusterScrapeTimeout)
	defer cancel()
	m, err := c.collect(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(clusterUpDesc, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(clusterUpDesc, prometheus.GaugeValue, 1)
	for _, t := range m.Tasks {
		ch <- summary(taskTimeDesc, t.Time, t.Task)
		ch <- prometheus.MustNewConstMetric(taskRunsDesc, prometheus.GaugeValue, float64(t.Runs), t.Task)
		ch <- prometheus.MustNewConstMetric(taskFailDesc, prometheus.GaugeValue, t.FailureRate, t.Task)
	}
	for _, s := range m.Queues {
		for st, n := range map[string]int64{"waiting": s.Waiting, "pending": s.Pending, "running": s.Running, "delayed": s.Delayed} {
			ch <- prometheus.MustNewConstMetric(queueSizeDesc, prometheus.GaugeValue, float64(n), s.Queue, st)
		}
	}
	for _, o := range m.Ops {
		ch <- summary(opTimeDesc, o.Time, o.Kind)
		ch <- prometheus.MustNewConstMetric(opFailDesc, prometheus.GaugeValue, float64(o.Failed), o.Kind)
	}
}

func summary(d *prometheus.Desc, q observe.Quantiles, label string) prometheus.Metric {
	return prometheus.MustNewConstSummary(d, uint64(q.Count), q.Sum.Seconds(), map[float64]float64{
		0.5: q.P50.Seconds(), 0.95: q.P95.Seconds(), 0.99: q.P99.Seconds()}, label)
}
