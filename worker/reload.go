package worker

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/celeroot/celeroot/config"
)

// Release is what a reload switches a worker to: the configuration, the
// directory and the SHA of a release.
type Release struct {
	Config *config.Config
	Dir    string
	SHA    string
}

// release is the release a worker serves. A run uses the one it started
// with to the end; the health answer and the heartbeat report the latest.
type release struct {
	cfg     *config.Config
	dir     string
	sha     string
	started time.Time // process start, or the reload that brought it
}

func (w *worker) now() *release { return w.cur.Load() }

// handleReloads reloads the worker on each SIGUSR1 until the returned
// stop is called (a no-op without Options.Reload).
func (w *worker) handleReloads(ctx context.Context) (stop func()) {
	if w.o.Reload == nil {
		return func() {}
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGUSR1)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-sigs:
				if err := w.reload(ctx); err != nil {
					w.log.Error("reload refused: the worker keeps its release; restart it to change", "err", err)
				}
			case <-done:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() { signal.Stop(sigs); close(done) }
}

// reload switches to the release Options.Reload returns when the worker
// can serve it as it is: same host role, queues, slots, task budget,
// health address and Redis namespace (a change of any of these needs a
// restart, and a deploy that changes more than task files restarts). New
// runs use the new release; runs going on finish with theirs. A heartbeat
// with the new SHA goes out at once.
func (w *worker) reload(ctx context.Context) error {
	rel, err := w.o.Reload(ctx)
	if err != nil {
		return err
	}
	if err := w.compatible(rel.Config); err != nil {
		return fmt.Errorf("release %s: %w", rel.SHA, err)
	}
	dir, err := filepath.Abs(rel.Dir)
	if err != nil {
		return err
	}
	old := w.now()
	w.cur.Store(&release{cfg: rel.Config, dir: dir, sha: rel.SHA, started: time.Now()})
	w.log.Info("worker reloaded", "sha", rel.SHA, "release", dir, "from", old.sha)
	w.heartbeat(ctx)
	return nil
}

// compatible reports what in cfg the running worker cannot take on
// without a restart.
func (w *worker) compatible(cfg *config.Config) error {
	cur := w.now().cfg
	h, ok := cfg.Hosts.Get(w.o.Host)
	switch {
	case !ok:
		return fmt.Errorf("host %s is not in its cl.yaml", w.o.Host)
	case h.Role != w.host.Role:
		return fmt.Errorf("host %s changes role %s → %s", w.o.Host, w.host.Role, h.Role)
	case cfg.Cluster.Name != cur.Cluster.Name:
		return fmt.Errorf("cluster.name changes %s → %s", cur.Cluster.Name, cfg.Cluster.Name)
	case cfg.Deployment.HealthCheckURL != cur.Deployment.HealthCheckURL:
		return fmt.Errorf("deployment.health_check_url changes")
	}
	role, ok := cfg.Workers.Get(h.Role)
	switch {
	case !ok:
		return fmt.Errorf("role %s is not under workers", h.Role)
	case role.Queue != w.role.Queue || role.Concurrency != w.role.Concurrency || role.MaxTasksPerChild != w.role.MaxTasksPerChild:
		return fmt.Errorf("workers.%s changes its queue, concurrency or max_tasks_per_child", h.Role)
	}
	return nil
}

// CurrentRelease returns the release directory `current` points to in the
// target directory that holds releaseDir (<target>/releases/<sha>), for a
// reload: an error when it is not a release there or when its bin/cl is
// not the program running (a new cl needs a restart; an unchanged one is
// a hard link to the same file).
func CurrentRelease(releaseDir string) (string, error) {
	releases := filepath.Dir(releaseDir)
	cur, err := filepath.EvalSymlinks(filepath.Join(filepath.Dir(releases), "current"))
	if err != nil {
		return "", fmt.Errorf("reload: %w", err)
	}
	if real, err := filepath.EvalSymlinks(releases); err != nil || filepath.Dir(cur) != real {
		return "", fmt.Errorf("reload: current points to %s, not to a release under %s", cur, releases)
	}
	bin, err := os.Stat(filepath.Join(cur, "bin", "cl"))
	if err != nil {
		return "", fmt.Errorf("reload: %w", err)
	}
	self, err := os.Stat("/proc/self/exe")
	if err != nil {
		return "", fmt.Errorf("reload: %w", err)
	}
	if !os.SameFile(bin, self) {
		return "", fmt.Errorf("reload: release %s brings another bin/cl: restart the worker", filepath.Base(cur))
	}
	return cur, nil
}
