package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/schedule"
	"github.com/celeroot/celeroot/sshkeys"
)

// beatJobs are the beat's own jobs for cfg: key rotation when
// ssh.key_rotation.enabled (its schedule in UTC). The job re-reads cl.yaml
// at each tick, so it rotates for the hosts and key files of that moment.
func beatJobs(a *App, cfg *config.Config) ([]schedule.Job, error) {
	kr := cfg.SSH.KeyRotation
	if !kr.Enabled {
		return nil, nil
	}
	c, err := schedule.NewCron(kr.Schedule, time.UTC)
	if err != nil {
		return nil, fmt.Errorf("ssh.key_rotation.schedule: %w", err)
	}
	run := func(ctx context.Context) error {
		cfg, err := a.LoadConfig()
		if err != nil {
			return err
		}
		rec := &auditRun{app: a, entry: auditEntry{action: "host.rotate-keys", targets: []string{"all"}}, via: "beat"}
		if err := rec.begin(); err != nil {
			return err
		}
		rep, err := sshkeys.Rotate(ctx, sshkeys.Options{Config: cfg, Log: a.Log})
		rec.end(err)
		for _, k := range rep.Keys {
			a.Log.Info("key rotation", "file", k.File, "rotated", k.Rotated, "old", k.OldFingerprint, "new", k.NewFingerprint,
				"backup", k.Backup, "failed", strings.Join(k.Failed(), ","))
		}
		return err
	}
	return []schedule.Job{{Name: "ssh-key-rotation", Cron: c, Run: run}}, nil
}
