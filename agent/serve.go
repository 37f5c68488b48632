package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/deploy"
	"github.com/celeroot/celeroot/dispatch"
	"github.com/celeroot/celeroot/hostexec"
	"github.com/celeroot/celeroot/observe"
	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/reconcile"
	gitsync "github.com/celeroot/celeroot/sync"
	"github.com/celeroot/celeroot/sync/webhook"
)

// ServeOptions configure `cl agent`.
type ServeOptions struct {
	Source        gitsync.SourceOptions
	Env           string
	Listen        string
	WebhookSecret *webhook.Secret // nil: no webhook receivers
	Options
	Prune     bool
	LeaderTTL time.Duration
	Log       *slog.Logger
	// Ready, when set, receives the HTTP server's address once it listens.
	Ready func(addr string)
	// RequireSigned, when set, refuses commits whose configuration or
	// commit signature does not verify (cl agent --require-signed).
	RequireSigned *SignedPolicy
	// UI, when set, serves the dashboard under /ui/ (cmd/cl passes
	// dashboard.New).
	UI UI
}

// Serve runs the agent until ctx ends: it clones the repository, connects
// to the Redis of the configuration at the branch's head, serves HTTP, and
// runs the sync loop while it leads the cluster's agents.
func Serve(ctx context.Context, o ServeOptions) error {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	src, err := gitsync.NewSource(o.Source)
	if err != nil {
		return err
	}
	head, err := src.Fetch(ctx)
	if err != nil {
		return err
	}
	boot := &Loader{Trees: treesOf{src}, Subdir: o.Source.Path, Env: o.Env}
	rev, err := boot.Revision(ctx, head)
	if err != nil {
		return fmt.Errorf("start the agent: %w (fix it in the repository; the agent needs a valid cl.yaml at the head of %s to find Redis)", err, o.Source.Branch)
	}
	// The head's cl.yaml only locates Redis; what is applied loads (and,
	// with --require-signed, is verified) through loader.
	loader := &Loader{Trees: treesOf{src}, Subdir: o.Source.Path, Env: o.Env, Verify: o.RequireSigned.verifier(src)}
	cfg := rev.Config
	if o.DriftInterval < 0 {
		o.DriftInterval = cfg.Monitoring.HealthCheckInterval.D()
	}
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	q, err := queue.Open(qctx, cfg.Redis.URL, queue.Namespace{Cluster: cfg.Cluster.Name, Env: o.Env},
		append(queue.ConfigOptions(cfg.Redis), queue.WithLogger(log))...)
	cancel()
	if err != nil {
		return fmt.Errorf("connect to redis (%s) of cl.yaml at %s: %w", config.MaskURL(cfg.Redis.URL), short(head), err)
	}
	defer q.Close()
	log, stopShip := observe.Ship(q, queue.ProcSource{Kind: "agent", Host: observe.Hostname()}, log)
	defer stopShip()

	store := reconcile.DocStore{Docs: q}
	fleet := &Fleet{Connect: connectWith(log), Releases: loader.Release, Queue: q, Env: o.Env, Log: log, Store: store, Revisions: loader}
	defer fleet.Close()
	a := &Agent{
		Source:  src,
		Planner: &Planner{Revisions: loader, Store: store, Observer: fleet, Schedules: fleet, Env: o.Env, Prune: o.Prune, SelfHeal: true},
		Drift:   &DriftCheck{Revisions: loader, Store: store, Fleet: fleet},
		Applier: &reconcile.Applier{Store: store, Deployer: fleet, Remover: fleet, Publisher: fleet, Log: log, Timings: q},
		Lock: func(ctx context.Context, sha string, fn func(context.Context) error) error {
			return deploy.Locked(ctx, q, deploy.LockInfo{Version: sha, Command: "cl agent"}, func(ctx context.Context, _ deploy.LockInfo) error { return fn(ctx) })
		},
		Log: log, Opts: o.Options, Status: NewStatus(config.MaskURL(o.Source.URL), o.Source.Branch), Metrics: NewMetrics(),
	}
	a.Before = BackupBeforeApply(q, loader.Trees, log)
	a.History = q
	queues := dispatch.ConfiguredQueues(cfg)
	a.Metrics.ClusterMetrics(func(ctx context.Context) (*observe.Metrics, error) { return observe.Collect(ctx, q, queues) })

	if a.Audit, err = NewAuditOptions(cfg, o.Env, q, src); err != nil {
		return fmt.Errorf("start the agent: %w (cl.yaml at %s)", err, short(head))
	}

	a.Status.ReadLock = func(ctx context.Context) (*deploy.LockInfo, error) {
		info, _, err := deploy.ReadLock(ctx, q)
		return info, err
	}
	var hooks http.Handler
	var deliveries func() any
	rm := &ReadModel{Agent: a, Store: store, Queue: q, Revisions: loader, Commits: src, Signed: o.RequireSigned != nil, Env: o.Env}
	if o.WebhookSecret != nil {
		rcv, err := webhook.New(webhook.Config{Branch: o.Source.Branch, GitHub: *o.WebhookSecret, GitLab: *o.WebhookSecret,
			Gitea: *o.WebhookSecret, Generic: *o.WebhookSecret, Logger: log})
		if err != nil {
			return err
		}
		// Deferred before the HTTP server's shutdown, so run after it: the
		// last deliveries are written too.
		kctx, stopKeeper := context.WithCancel(context.WithoutCancel(ctx))
		keeper := keepLedger(kctx, rcv.Ledger(), q, webhook.DefaultLedgerSize, log)
		defer keeper.Wait()
		defer stopKeeper()
		a.Metrics.unsavedDeliveries(keeper.Unsaved)
		hooks = rcv
		deliveries = func() any { return rcv.Ledger().Snapshot() }
		rm.Deliveries = rcv.Ledger().Snapshot
		a.Audit.Delivery = newDeliveries(rcv.Ledger()).next
		a.Metrics.deliveries(rcv.Ledger().Counts)
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-rcv.Fetch():
					a.Trigger()
				}
			}
		}()
	}
	if dir, ok := localPath(o.Source.URL); ok {
		if err := gitsync.Watch(ctx, dir, func() { a.Trigger() }); err != nil {
			log.Warn("not watching the repository: polling only", "dir", dir, "err", err)
		}
	}

	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another agent running? choose another --listen)", o.Listen, err)
	}
	var ui http.Handler
	if o.UI != nil {
		ui = o.UI(rm)
	}
	srv := webhook.NewServer(o.Listen, Handler(a, store, hooks, deliveries, ui))
	go func() { _ = srv.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("agent started", "repo", config.MaskURL(o.Source.URL), "branch", o.Source.Branch, "head", head,
		"listen", ln.Addr().String(), "auto_apply", o.AutoApply)
	if o.Ready != nil {
		o.Ready(ln.Addr().String())
	}
	run := a.Run
	if al := NewAlerts(cfg, q, queues, a.Status, log); al != nil {
		defer al.Manager.Close()
		a.Metrics.alerts(al.Manager.Stats)
		run = func(ctx context.Context) error { go al.Run(ctx); return a.Run(ctx) }
	}
	return lead(ctx, q, o.LeaderTTL, log, run)
}

// lead runs fn while this process holds the agent lease; a standby retries
// until it takes over.
func lead(ctx context.Context, q *queue.Queue, ttl time.Duration, log *slog.Logger, fn func(context.Context) error) error {
	if ttl <= 0 {
		ttl = 15 * time.Second
	}
	standby := false
	for ctx.Err() == nil {
		lease, err := q.AcquireLease(ctx, queue.LeaseAgent, queue.LeaseInfo{Command: "cl agent"}, ttl)
		var held *queue.LeaseHeldError
		switch {
		case errors.As(err, &held):
			if !standby {
				log.Info("standing by: another agent leads", "leader", held.Holder.Holder)
				standby = true
			}
			queue.Sleep(ctx, ttl/3)
			continue
		case err != nil:
			log.Error("agent lease", "err", err)
			queue.Sleep(ctx, ttl/3)
			continue
		}
		standby = false
		log.Info("leading", "epoch", lease.Info().Epoch)
		lctx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-lease.Lost():
				log.Warn("lost the agent lease: standing by")
			case <-lctx.Done():
			}
			cancel()
		}()
		_ = fn(lctx)
		cancel()
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		_ = lease.Release(rctx)
		rcancel()
	}
	return nil
}

// connectWith opens hosts with the SSH settings of the configuration.
func connectWith(log *slog.Logger) Connect {
	return func(cfg *config.Config) (deploy.Opener, func(), error) {
		opts := hostexec.OptionsFor(cfg, log)
		opts.KeepaliveInterval = 5 * time.Second
		conn, err := hostexec.NewConnector(cfg, opts)
		if err != nil {
			return nil, nil, err
		}
		return conn, func() { conn.Close() }, nil
	}
}

// treesOf reads trees from a Source.
type treesOf struct{ src *gitsync.Source }

func (t treesOf) ReadTree(ctx context.Context, commit string) (fs.FS, time.Time, error) {
	tree, err := t.src.Tree(ctx, commit)
	if err != nil {
		return nil, time.Time{}, err
	}
	return tree, tree.Time, nil
}

// localPath is the directory of a repository given as a path or file://
// URL.
func localPath(url string) (string, bool) {
	if p, ok := strings.CutPrefix(url, "file://"); ok {
		return p, true
	}
	if strings.Contains(url, "://") || strings.Contains(strings.SplitN(url, "/", 2)[0], ":") {
		return "", false // a URL, or scp-like user@host:path
	}
	return url, true
}
