package main

import (
	"time"

	"github.com/celeroot/celeroot/audit"
)

// auditFilter are the selection flags of logs and export.
type auditFilter struct {
	Since  string `placeholder:"D" help:"Only records since D: a date (2024-01-01), an RFC 3339 time or a duration back from now (24h, 7d)."`
	Actor  string `placeholder:"A" help:"Only records whose actor (user, machine, key fingerprint, commit author or committer) contains A."`
	Action string `placeholder:"X" help:"Only this action (host.update) or group of actions (host)."`
}

func (f auditFilter) filter() (audit.Filter, error) {
	out := audit.Filter{Actor: f.Actor, Action: f.Action}
	if f.Since != "" {
		t, err := audit.ParseSince(f.Since, time.Now())
		if err != nil {
			return out, err
		}
		out.Since = t
	}
	return out, nil
}

// openTrail loads the configuration and the trail of its namespace (for
// reading: only the checkpoint key's public half is needed).
func openTrail(a *App) (*audit.Trail, func(), error) {
	cfg, q, err := loadQueue(a)
	if err != nil {
		return nil, nil, err
	}
	t, err := audit.ForConfig(cfg, a.Env, q, false)
	if err != nil {
		q.Close()
		return nil, nil, err
	}
	return t, func() { q.Close() }, nil
}

func selectRecords(a *App, f auditFilter) ([]audit.Record, error) {
	flt, err := f.filter()
	if err != nil {
		return nil, err
	}
	t, done, err := openTrail(a)
	if err != nil {
		return nil, err
	}
	defer done()
	recs, err := t.Records(a.Ctx)
	if err != nil {
		return nil, err
	}
	return audit.Select(recs, flt), nil
}
