package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/celeroot/celeroot/schedule"
)

// BeatBackupCmd is `cl beat backup`.
type BeatBackupCmd struct {
	Dir  string `placeholder:"DIR" help:"Directory of the snapshot (default: redis.backup.directory)."`
	Keep int    `help:"Snapshots kept in the directory (default: redis.backup.keep)."`
}

// Run takes a snapshot now.
func (c *BeatBackupCmd) Run(a *App) error {
	cfg, err := a.LoadConfig()
	if err != nil {
		return err
	}
	dir, keep := cfg.Redis.Backup.Directory, cfg.Redis.Backup.Keep
	if c.Dir != "" {
		dir = c.Dir
	}
	if c.Keep > 0 {
		keep = c.Keep
	}
	q, err := openQueue(a, cfg)
	if err != nil {
		return err
	}
	defer q.Close()
	res, err := schedule.Snapshot(a.Ctx, q, dir, keep, time.Now())
	if err != nil {
		return err
	}
	if a.JSON() {
		return a.PrintJSON(res)
	}
	fmt.Fprintf(a.Stdout, "%s: %s, %s\n", res.File, plural(res.Keys, "key"), plural(int(res.Bytes), "byte"))
	for _, f := range res.Removed {
		fmt.Fprintf(a.Stdout, "removed %s (keeping %d)\n", f, keep)
	}
	return nil
}

// BeatRestoreCmd is `cl beat restore-backup FILE`.
type BeatRestoreCmd struct {
	File string `arg:"" type:"existingfile" help:"Snapshot file (*.clbackup.gz)."`
	Yes  bool   `help:"Do not ask for confirmation (required without a terminal)."`
}

// Run restores a snapshot.
func (c *BeatRestoreCmd) Run(a *App) error {
	_, q, err := loadQueue(a)
	if err != nil {
		return err
	}
	defer q.Close()
	if !c.Yes && !promptYes(a, fmt.Sprintf("Overwrite the keys of namespace %s with those in %s? Stop beats and workers first. [y/N] ", q.Namespace(), c.File), false) {
		return withCode(ExitError, errors.New("restore not confirmed: pass --yes to restore without asking"))
	}
	res, err := schedule.Restore(a.Ctx, q, c.File)
	if err != nil {
		return err
	}
	if a.JSON() {
		return a.PrintJSON(res)
	}
	fmt.Fprintf(a.Stdout, "restored %s of %s from %s (snapshot of %s)\n", plural(res.Keys, "key"), res.Namespace, res.File, res.Created.Format(time.RFC3339))
	return nil
}
