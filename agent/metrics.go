package agent

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/celeroot/celeroot/alert"
	"github.com/celeroot/celeroot/drift"
	"github.com/celeroot/celeroot/reconcile"
	"github.com/celeroot/celeroot/sync/webhook"
)

// Metrics are the agent's Prometheus metrics (served at /metrics).
type Metrics struct {
	Registry      *prometheus.Registry
	syncs         *prometheus.CounterVec
	syncDuration  prometheus.Histogram
	plans         *prometheus.CounterVec
	planDuration  prometheus.Histogram
	applies       *prometheus.CounterVec
	applyDuration prometheus.Histogram
	hostState     *prometheus.GaugeVec
	actions       *prometheus.GaugeVec
	driftHosts    *prometheus.GaugeVec
	repairs       *prometheus.CounterVec
	repairedHosts *prometheus.CounterVec
}

// NewMetrics registers the agent's metrics in a new registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cl_agent_syncs_total",
			Help: "Fetches of the config repository, by result (ok, error)."}, []string{"result"}),
		syncDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "cl_agent_sync_duration_seconds",
			Help: "Duration of fetches of the config repository.", Buckets: prometheus.ExponentialBuckets(0.005, 3, 10)}),
		plans: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cl_agent_plans_total",
			Help: "Plans made, by result (in-sync, changes, invalid, error)."}, []string{"result"}),
		planDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "cl_agent_plan_duration_seconds",
			Help:    "Duration of plans of new commits: loading the commit, the applied state and the observation of every host.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 10)}),
		applies: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cl_agent_applies_total",
			Help: "Applies, by result (ok, failed, error)."}, []string{"result"}),
		applyDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "cl_agent_apply_duration_seconds",
			Help: "Duration of applies.", Buckets: prometheus.ExponentialBuckets(0.25, 2, 12)}),
		hostState: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "cl_agent_host_state",
			Help: "1 for each host's state at the last plan (in-sync, drifted, pending, unknown, extra)."}, []string{"host", "state"}),
		actions: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "cl_agent_pending_actions",
			Help: "Actions of the last plan, intended or corrective (repairing drift)."}, []string{"kind"}),
		driftHosts: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "cl_agent_drift_hosts",
			Help: "Hosts by state at the last drift check (in-sync, drifted, pending, unknown)."}, []string{"state"}),
		repairs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cl_agent_repairs_total",
			Help: "Self-heal repairs of drift (corrective, apart from applies), by result (ok, error)."}, []string{"result"}),
		repairedHosts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cl_agent_repaired_hosts_total",
			Help: "Hosts repaired by self-heal, by result (ok, failed)."}, []string{"result"}),
	}
	m.Registry.MustRegister(m.driftHosts, m.repairs, m.repairedHosts)
	m.Registry.MustRegister(m.syncs, m.syncDuration, m.plans, m.planDuration, m.applies, m.applyDuration, m.hostState, m.actions,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// deliveries exports the webhook ledger's counts by outcome.
func (m *Metrics) deliveries(counts func() map[webhook.Outcome]uint64) {
	m.Registry.MustRegister(deliveryCollector{counts})
}

// unsavedDeliveries exports how many webhook deliveries were not written
// to Redis.
func (m *Metrics) unsavedDeliveries(n func() uint64) {
	m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cl_agent_webhook_ledger_unsaved_total",
		Help: "Webhook deliveries kept in memory only: writing them to Redis failed (logged) or too many waited."},
		func() float64 { return float64(n()) }))
}

// alerts exports the alert channels' delivery counts.
func (m *Metrics) alerts(stats func() []alert.ChannelStats) {
	m.Registry.MustRegister(alertCollector{stats})
}

var (
	alertNoticesDesc = prometheus.NewDesc("cl_alert_notices_total",
		"Alert notices by channel (webhook paths masked) and result: sent, failed (given up after every attempt), dropped (the channel's queue was full).",
		[]string{"channel", "result"}, nil)
	alertErrorsDesc = prometheus.NewDesc("cl_alert_send_errors_total",
		"Failed tries to send an alert notice, by channel (each retried with backoff until the attempts run out).", []string{"channel"}, nil)
)

type alertCollector struct {
	stats func() []alert.ChannelStats
}

func (c alertCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- alertNoticesDesc
	ch <- alertErrorsDesc
}

func (c alertCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.stats() {
		for r, n := range map[string]int64{"sent": s.Sent, "failed": s.Failed, "dropped": s.Dropped} {
			ch <- prometheus.MustNewConstMetric(alertNoticesDesc, prometheus.CounterValue, float64(n), s.Channel, r)
		}
		ch <- prometheus.MustNewConstMetric(alertErrorsDesc, prometheus.CounterValue, float64(s.Errors), s.Channel)
	}
}

var deliveryDesc = prometheus.NewDesc("cl_agent_webhook_deliveries_total", "Webhook deliveries, by outcome.", []string{"outcome"}, nil)

type deliveryCollector struct {
	counts func() map[webhook.Outcome]uint64
}

func (c deliveryCollector) Describe(ch chan<- *prometheus.Desc) { ch <- deliveryDesc }

func (c deliveryCollector) Collect(ch chan<- prometheus.Metric) {
	for o, n := range c.counts() {
		ch <- prometheus.MustNewConstMetric(deliveryDesc, prometheus.CounterValue, float64(n), string(o))
	}
}

func (m *Metrics) sync(d time.Duration, err error) {
	if m == nil {
		return
	}
	m.syncs.WithLabelValues(result(err)).Inc()
	m.syncDuration.Observe(d.Seconds())
}

func (m *Metrics) plan(result string) {
	if m != nil {
		m.plans.WithLabelValues(result).Inc()
	}
}

func (m *Metrics) planTook(d time.Duration) {
	if m != nil {
		m.planDuration.Observe(d.Seconds())
	}
}

func (m *Metrics) planned(p *reconcile.Plan) {
	if m == nil {
		return
	}
	m.hostState.Reset()
	for _, f := range p.Hosts {
		m.hostState.WithLabelValues(f.Host, string(f.State)).Set(1)
	}
	intended, corrective := 0, 0
	for _, a := range p.Actions {
		if a.Corrective() {
			corrective++
		} else {
			intended++
		}
	}
	m.actions.WithLabelValues("intended").Set(float64(intended))
	m.actions.WithLabelValues("corrective").Set(float64(corrective))
}

func (m *Metrics) apply(d time.Duration, res *reconcile.Result, err error) {
	if m == nil {
		return
	}
	r := "ok"
	switch {
	case err != nil && res != nil:
		r = "failed"
	case err != nil:
		r = "error"
	}
	m.applies.WithLabelValues(r).Inc()
	m.applyDuration.Observe(d.Seconds())
	if err == nil {
		m.actions.Reset()
	}
}

func result(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

func (m *Metrics) drifted(r *drift.Report) {
	if m == nil {
		return
	}
	for _, s := range []drift.State{drift.StateInSync, drift.StateDrifted, drift.StatePending, drift.StateUnknown} {
		m.driftHosts.WithLabelValues(string(s)).Set(float64(r.Count(s)))
	}
}

func (m *Metrics) repaired(_ time.Duration, r *Repair, err error) {
	if m == nil {
		return
	}
	m.repairs.WithLabelValues(result(err)).Inc()
	if r == nil {
		return
	}
	for _, h := range r.Hosts {
		res := "ok"
		if !h.OK {
			res = "failed"
		}
		m.repairedHosts.WithLabelValues(res).Inc()
	}
}
