package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/celeroot/celeroot/cluster"
)

// ClusterInitCmd is `cl cluster init [DIR]`.
type ClusterInitCmd struct {
	Dir          string `arg:"" optional:"" default:"." help:"Directory of the new cluster (default: the current directory); it must not hold cl.yaml."`
	Name         string `help:"cluster.name (default: the directory's name)."`
	Redis        string `placeholder:"URL" help:"redis.url of the new cl.yaml, checked now (default: redis://127.0.0.1:6379/0)."`
	Force        bool   `help:"Create the cluster even though its Redis namespace holds keys."`
	NoRedisCheck bool   `help:"Do not check Redis (it is not running yet): the namespace is not checked either."`
}

// Run creates the cluster.
func (c *ClusterInitCmd) Run(a *App) error {
	res, err := cluster.Init(a.Ctx, cluster.InitOptions{Dir: c.Dir, Name: c.Name, RedisURL: c.Redis, Force: c.Force, NoRedisCheck: c.NoRedisCheck})
	if err != nil {
		return err
	}
	if a.JSON() {
		return a.PrintJSON(res)
	}
	for _, f := range res.Files {
		fmt.Fprintf(a.Stdout, "created %s\n", f)
	}
	fmt.Fprintf(a.Stdout, "cluster %s: git repository with commit %s\n", res.Name, shortSHA(res.Commit))
	for _, u := range res.Checked {
		fmt.Fprintf(a.Stdout, "redis namespace %s\n", u)
	}
	if c.NoRedisCheck {
		fmt.Fprintln(a.Stdout, "redis not checked (--no-redis-check)")
	}
	fmt.Fprintf(a.Stdout, "next: add hosts (cl host add -c %s ...), then cl plan / cl apply\n", filepath.Join(c.Dir, "cl.yaml"))
	return nil
}

// ClusterBackupCmd is `cl cluster backup`.
type ClusterBackupCmd struct {
	Out  string `placeholder:"FILE" help:"Backup file (default: ./<cluster>-<env>-<time>.clcluster.gz)."`
	Auto bool   `help:"Write into redis.backup.directory and keep the newest redis.backup.keep (what redis.backup.before_apply does)."`
}

// Run writes a backup.
func (c *ClusterBackupCmd) Run(a *App) error {
	cfg, q, err := loadQueue(a)
	if err != nil {
		return err
	}
	defer q.Close()
	src := cluster.Source{Queue: q, Config: os.DirFS(cfg.Source.Dir), Head: headSHA(a.Ctx, cfg.Source.Dir)}
	now := time.Now()
	var res *cluster.Result
	switch {
	case c.Auto && c.Out != "":
		return withCode(ExitError, fmt.Errorf("--auto and --out both name the file: pass one"))
	case c.Auto:
		res, err = cluster.SaveAuto(a.Ctx, src, cfg.Redis.Backup.Directory, cfg.Redis.Backup.Keep, now)
	default:
		out := c.Out
		if out == "" {
			out = cluster.Name(q.Namespace(), now)
		}
		res, err = cluster.Save(a.Ctx, src, out, now)
	}
	if err != nil {
		return err
	}
	if a.JSON() {
		return a.PrintJSON(res)
	}
	fmt.Fprintf(a.Stdout, "%s: %s, %s, applied %s, %s\n", res.File, plural(res.Files, "file"), plural(res.Keys, "key"), orNever(res.Applied), plural(int(res.Bytes), "byte"))
	for _, f := range res.Removed {
		fmt.Fprintf(a.Stdout, "removed %s (keeping %d)\n", f, cfg.Redis.Backup.Keep)
	}
	return nil
}

// ClusterRestoreCmd is `cl cluster restore FILE`.
type ClusterRestoreCmd struct {
	File    string `arg:"" type:"existingfile" help:"Backup file (*.clcluster.gz) written by cl cluster backup."`
	Force   bool   `help:"Load another cluster's (or environment's) backup into this configuration's namespace."`
	Extract string `placeholder:"DIR" help:"Also write the backup's cl.yaml, tasks/ and environments/ into DIR (a new or empty directory)."`
}

// Run restores a backup.
func (c *ClusterRestoreCmd) Run(a *App) error {
	_, q, err := loadQueue(a)
	if err != nil {
		return err
	}
	defer q.Close()
	res, err := cluster.Restore(a.Ctx, q, c.File, cluster.RestoreOptions{Force: c.Force, Extract: c.Extract})
	if err != nil {
		return err
	}
	if a.JSON() {
		return a.PrintJSON(res)
	}
	fmt.Fprintf(a.Stdout, "restored %s of %s into %s from %s (backup of %s, HEAD %s); applied %s, generation %d\n",
		plural(res.Keys, "key"), res.From, res.Into, res.File, res.Created.Format(time.RFC3339), orNever(res.Head), orNever(res.Applied), res.Generation)
	for _, f := range res.Extracted {
		fmt.Fprintf(a.Stdout, "wrote %s\n", f)
	}
	return nil
}

// orNever is a short SHA, or "none".
func orNever(s string) string {
	if s == "" {
		return "none"
	}
	return shortSHA(s)
}
