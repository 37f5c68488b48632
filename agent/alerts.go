package agent

import (
	"context"
	"log/slog"
	"time"

	"github.com/celeroot/celeroot/alert"
	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/drift"
	"github.com/celeroot/celeroot/observe"
	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/secrets"
)

// Alerts evaluates monitoring.metrics and the built-in conditions every
// monitoring.alert_interval while the agent leads, and hands what fires to
// the alert manager (which never makes it wait).
type Alerts struct {
	Monitoring config.Monitoring
	Queue      *queue.Queue
	Queues     []string // the configured queues
	Status     *Status
	Manager    *alert.Manager
	Log        *slog.Logger
}

// NewAlerts returns the alerts of cfg, or nil when it has no alert
// channel that can send. Channels that cannot send are logged.
func NewAlerts(cfg *config.Config, q *queue.Queue, queues []string, st *Status, log *slog.Logger) *Alerts {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var x alert.Expander
	if cfg.Secrets.Provider != "" { // references in webhooks and smtp.password: resolved at each send, cached a minute
		x = secrets.NewExpander(cfg, secrets.DefaultExpandTTL).Expand
	}
	chs, skipped := alert.Channels(cfg.Monitoring, nil, x)
	for _, s := range skipped {
		log.Warn("alert channel not used", "channel", s)
	}
	if len(chs) == 0 {
		return nil
	}
	m := alert.NewManager(chs, alert.Options{Cluster: cfg.Cluster.Name, Cooldown: cfg.Monitoring.AlertCooldown.D(), Log: log})
	return &Alerts{Monitoring: cfg.Monitoring, Queue: q, Queues: queues, Status: st, Manager: m, Log: log}
}

// Run evaluates until ctx ends.
func (al *Alerts) Run(ctx context.Context) {
	every := al.Monitoring.AlertInterval.D()
	if every <= 0 {
		every = config.DefaultAlertInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		al.Evaluate(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Evaluate gathers the facts once and observes the conditions firing.
func (al *Alerts) Evaluate(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	f := al.Status.alertFacts()
	if m, err := observe.Collect(ctx, al.Queue, al.Queues); err != nil {
		al.Log.Warn("alerts: metrics not read", "err", err)
	} else {
		f.Metrics = m
	}
	if ws, err := al.Queue.Workers(ctx); err == nil {
		f.Workers, f.WorkersRead = len(ws), true
	}
	al.Manager.Observe(alert.Evaluate(al.Monitoring.Metrics, f))
}

// alertFacts are the status's parts that alerts judge: the last drift
// report and the last apply.
func (s *Status) alertFacts() alert.Facts {
	s.mu.Lock()
	defer s.mu.Unlock()
	var f alert.Facts
	if s.drift != nil {
		for _, h := range s.drift.Hosts {
			switch {
			case h.State == drift.StateDrifted:
				f.Drifted = append(f.Drifted, h.Host)
			case hasKind(h, drift.KindUnreachable):
				f.Unreachable = append(f.Unreachable, h.Host)
			}
		}
	}
	if la := s.lastApply; la != nil && la.Result != "ok" {
		f.ApplyFailed, f.ApplySHA = la.Error, la.SHA
	}
	return f
}

func hasKind(h drift.HostReport, k drift.Kind) bool {
	for _, f := range h.Findings {
		if f.Kind == k {
			return true
		}
	}
	return false
}
