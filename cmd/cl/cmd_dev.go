package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/hostexec"
	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/queue/embedded"
	"github.com/celeroot/celeroot/schedule"
	"github.com/celeroot/celeroot/worker"
)

// DevCmd is `cl dev`: the whole system on one machine, with nothing to
// install: an in-memory Redis on the address of redis.url, a worker for
// every local host and the scheduler (the beat). The agent joins it when it
// lands: one more devService.
type DevCmd struct {
	Grace time.Duration `default:"10s" help:"How long running tasks may finish on Ctrl-C before they are stopped."`
}

// devService is one long-running part of cl dev. run returns when ctx is
// cancelled; when it returns earlier it is restarted (a worker recycled by
// max_tasks_per_child returns nil and wants exactly that).
type devService struct {
	name string
	run  func(ctx context.Context) error
}

// devWorker describes a local worker, for the banner.
type devWorker struct {
	Host   string `json:"host"`
	Role   string `json:"role"`
	Slots  int    `json:"slots"`
	Health string `json:"health,omitempty"` // URL of its health endpoint
}

// devInfo is what cl dev prints when it is ready (-o json: this object).
type devInfo struct {
	RedisURL  string      `json:"redis_url"`
	Persisted bool        `json:"persisted"`
	Namespace string      `json:"namespace"`
	Workers   []devWorker `json:"workers"`
	Remote    []string    `json:"remote_hosts"` // hosts without a local address: no worker here
	Beat      *devBeat    `json:"beat"`
	Try       []string    `json:"try"`
}

// devBeat describes the scheduler of cl dev, for the banner.
type devBeat struct {
	ID        string   `json:"id"`
	Role      string   `json:"role"`      // leader once it holds the lease
	Schedules []string `json:"schedules"` // enabled schedules it fires

	role atomic.Value // schedule.Role, kept up to date by the running beat
}

// Run serves until Ctrl-C, then shuts everything down.
func (c *DevCmd) Run(a *App) error {
	cfg, err := a.LoadConfig()
	if err != nil {
		return err
	}
	ep, err := devEndpoint(cfg.Redis.URL)
	if err != nil {
		return err
	}
	srv, err := startDevRedis(ep)
	if err != nil {
		return err
	}
	defer srv.Close()
	q, err := openQueue(a, cfg)
	if err != nil {
		return err
	}
	defer q.Close()

	info := &devInfo{RedisURL: config.MaskURL(cfg.Redis.URL), Namespace: q.Namespace().String(),
		Workers: []devWorker{}, Remote: []string{}}
	services := devWorkers(a, cfg, q, c.Grace, info)
	beat, err := devBeatService(a, cfg, q, info)
	if err != nil {
		return err
	}
	services = append(services, beat)
	// The agent is added here when it exists.
	info.Try = devTry(a, cfg, info)

	ctx, stop := context.WithCancel(a.Ctx)
	defer stop()
	var wg sync.WaitGroup
	for _, s := range services {
		wg.Go(func() { superviseDev(ctx, a.Log, s) })
	}
	waitHeartbeats(ctx, a, q, info.Workers)
	waitBeat(ctx, a, info.Beat)
	if err := printDevInfo(a, info); err != nil {
		stop()
		wg.Wait()
		return err
	}
	<-ctx.Done()
	fmt.Fprintln(a.Stderr, "cl dev: stopping (running tasks get", c.Grace, "to finish)…")
	wg.Wait()
	fmt.Fprintln(a.Stderr, "cl dev: stopped; the in-memory Redis and everything in it are gone")
	return nil
}

// devEndpoint checks that redis.url names one plain Redis on a loopback
// address, which is where the embedded server listens.
func devEndpoint(raw string) (*queue.Endpoint, error) {
	fix := "fix: use --env dev (examples/fleet/environments/dev.yaml), or set redis.url to redis://127.0.0.1:6390/0"
	ep, err := queue.ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("cl dev: %w (%s)", err, fix)
	}
	if ep.Mode != queue.ModeSingle || ep.TLS {
		return nil, fmt.Errorf("cl dev serves one plain in-memory Redis, but redis.url is %s (%s)", config.MaskURL(raw), fix)
	}
	host, _, err := net.SplitHostPort(ep.Addrs[0])
	if err != nil {
		return nil, fmt.Errorf("cl dev: redis.url %s: %w (%s)", config.MaskURL(raw), err, fix)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("cl dev listens on this machine only, but redis.url %s is not a loopback address (%s)", config.MaskURL(raw), fix)
	}
	return ep, nil
}

// startDevRedis starts the embedded server on the endpoint's address, with
// its password if the URL has one.
func startDevRedis(ep *queue.Endpoint) (*embedded.Server, error) {
	srv, err := embedded.Start(ep.Addrs[0])
	if err != nil {
		return nil, fmt.Errorf("cl dev: %w (is another cl dev or a redis-server using %s? stop it, or change redis.url's port)", err, ep.Addrs[0])
	}
	switch {
	case ep.Username != "" && ep.Password != "":
		srv.Miniredis().RequireUserAuth(ep.Username, ep.Password)
	case ep.Password != "":
		srv.Miniredis().RequireAuth(ep.Password)
	}
	return srv, nil
}

// devWorkers makes a worker service for every host whose address is local,
// each with its own health address, and records them in info.
func devWorkers(a *App, cfg *config.Config, q *queue.Queue, grace time.Duration, info *devInfo) []devService {
	var out []devService
	used := map[string]bool{}
	// Scripts are resolved under the release dir, and run with it as their
	// working directory: it must be absolute.
	releaseDir, err := filepath.Abs(cfg.Source.Dir)
	if err != nil {
		releaseDir = cfg.Source.Dir
	}
	for _, h := range cfg.Hosts.Values() {
		if !hostexec.IsLocal(h) {
			info.Remote = append(info.Remote, h.Name)
			continue
		}
		role, _ := cfg.Workers.Get(h.Role)
		addr, health := devHealthAddr(cfg, h, used)
		info.Workers = append(info.Workers, devWorker{Host: h.Name, Role: h.Role, Slots: role.Concurrency, Health: health})
		opts := worker.Options{Config: cfg, Host: h.Name, Queue: q, ReleaseDir: releaseDir, SHA: worker.DevSHA,
			Version: version, HealthAddr: addr, Logger: a.Log, Grace: grace}
		out = append(out, devService{name: "worker " + h.Name, run: func(ctx context.Context) error { return worker.Run(ctx, opts) }})
	}
	return out
}

// devBeatService makes the scheduler's service: a beat as `cl beat` runs
// it (no pidfile: cl dev owns its Redis), firing the configuration's
// schedules to the local workers. A beat that returns early is replaced
// by a new one (Beat.Run runs once per Beat).
func devBeatService(a *App, cfg *config.Config, q *queue.Queue, info *devInfo) (devService, error) {
	hn, _ := os.Hostname()
	bi := &devBeat{ID: fmt.Sprintf("dev-%s-%d", hn, os.Getpid()), Schedules: []string{}}
	bi.role.Store(schedule.RoleStarting)
	set := localSet(a, cfg)
	for _, sp := range set.Schedules {
		if sp.Enabled {
			bi.Schedules = append(bi.Schedules, sp.Name)
		}
	}
	if set.Backup != nil {
		bi.Schedules = append(bi.Schedules, schedule.BackupName)
	}
	opts := schedule.Options{ID: bi.ID, Version: version, Logger: a.Log, FireTTL: cfg.Redis.TaskTTL.D(),
		OnRole: func(r schedule.Role) { bi.role.Store(r) }}
	next, err := schedule.NewFromSet(set, q, opts) // a bad option fails cl dev at once
	if err != nil {
		return devService{}, fmt.Errorf("cl dev: beat: %w", err)
	}
	info.Beat = bi
	// superviseDev calls run again only after it returned.
	return devService{name: "beat", run: func(ctx context.Context) error {
		b := next
		next = nil
		if b == nil {
			var err error
			if b, err = schedule.NewFromSet(set, q, opts); err != nil {
				return err
			}
		}
		return b.Run(ctx)
	}}, nil
}

// devHealthAddr gives each local worker its own health endpoint: the port
// of deployment.health_check_url on the host's own loopback address when
// it is free, otherwise a free port on 127.0.0.1. It returns the listen
// address ("-" for none) and the endpoint's URL.
func devHealthAddr(cfg *config.Config, h *config.Host, used map[string]bool) (addr, healthURL string) {
	u, err := url.Parse(cfg.Deployment.HealthCheckURL)
	if cfg.Deployment.HealthCheckURL == "" || err != nil || u.Host == "" {
		return "-", ""
	}
	port, path := u.Port(), u.Path
	if port == "" {
		port = "8000"
	}
	if path == "" {
		path = "/health"
	}
	if ip := net.ParseIP(h.Address); ip != nil && ip.IsLoopback() {
		addr = net.JoinHostPort(h.Address, port)
	}
	if addr == "" || used[addr] || !canListen(addr) {
		addr = freeLoopbackAddr()
	}
	if addr == "" {
		return "-", ""
	}
	used[addr] = true
	return addr, "http://" + addr + path
}

func canListen(addr string) bool {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

func freeLoopbackAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return ""
	}
	defer l.Close()
	return l.Addr().String()
}

// superviseDev runs a service until ctx is cancelled, restarting it when it
// returns early: at once after a clean return, with backoff after an error.
func superviseDev(ctx context.Context, log *slog.Logger, s devService) {
	backoff := time.Second
	for {
		err := s.run(ctx)
		if ctx.Err() != nil {
			return
		}
		wait := time.Duration(0)
		if err != nil {
			log.Error("cl dev: service failed; restarting", "service", s.name, "err", err, "in", backoff)
			wait, backoff = backoff, min(2*backoff, 30*time.Second)
		} else {
			log.Info("cl dev: service restarting", "service", s.name)
			backoff = time.Second
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// waitHeartbeats waits (up to 10 s) until every local worker has sent its
// first heartbeat, so that the commands printed next work at once.
func waitHeartbeats(ctx context.Context, a *App, q *queue.Queue, ws []devWorker) {
	deadline := time.Now().Add(10 * time.Second)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		live, err := q.Workers(ctx)
		if err == nil && len(live) >= len(ws) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ctx.Err() == nil {
		a.Log.Warn("cl dev: not every local worker has reported within 10s; see `cl task status`")
	}
}

// waitBeat waits (up to 10 s) until the beat has campaigned for the lease,
// so that `cl beat status` shows it at once, and records its role.
func waitBeat(ctx context.Context, a *App, bi *devBeat) {
	deadline := time.Now().Add(10 * time.Second)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		if r := bi.role.Load().(schedule.Role); r == schedule.RoleLeader || r == schedule.RoleStandby {
			bi.Role = string(r)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	bi.Role = string(bi.role.Load().(schedule.Role))
	if ctx.Err() == nil {
		a.Log.Warn("cl dev: the beat has not taken the lease within 10s; see `cl beat status`")
	}
}

// devTry lists the commands to try next, with this invocation's -c and --env.
func devTry(a *App, cfg *config.Config, info *devInfo) []string {
	prefix := clInvocation(a)
	role, host := "", ""
	for _, w := range info.Workers {
		if role == "" {
			role, host = w.Role, w.Host
		}
	}
	if role == "" {
		return []string{prefix + " task status", prefix + " beat status", prefix + " config schedules"}
	}
	try := []string{
		prefix + " task run ping --role " + role + " --wait",
		prefix + " task run ping --target " + host + "   # prints a run id",
		prefix + " task logs --task-id ID --follow",
		prefix + " task status",
		prefix + " task status --task-id ID -o json",
	}
	if h := info.Workers[0].Health; h != "" {
		try = append(try, "curl -s "+h)
	}
	try = append(try,
		prefix+" config schedules   # next fire times",
		prefix+" beat status        # the beat: leader, schedules, last fires")
	return try
}

// clInvocation is how the user ran cl, with the configuration flags.
func clInvocation(a *App) string {
	bin := "cl"
	if len(os.Args) > 0 && filepath.Base(os.Args[0]) == "cl" {
		bin = os.Args[0]
	}
	parts := []string{bin}
	if a.ConfigPath != "cl.yaml" {
		parts = append(parts, "-c", shellQuote(a.ConfigPath))
	}
	if a.Env != "" {
		parts = append(parts, "--env", shellQuote(a.Env))
	}
	return strings.Join(parts, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '/' || r == '.' || r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// printDevInfo prints what runs and what to try, or the JSON object.
func printDevInfo(a *App, info *devInfo) error {
	if a.JSON() {
		return a.PrintJSON(info)
	}
	w := a.Stdout
	fmt.Fprintln(w, "cl dev: ready — FOR DEVELOPMENT ONLY: nothing is persisted")
	fmt.Fprintf(w, "  redis    %s  in-memory (embedded miniredis); every queue, run and log is lost when cl dev stops\n", info.RedisURL)
	fmt.Fprintf(w, "  keys     namespace %s\n", info.Namespace)
	for i, wk := range info.Workers {
		label := "  "
		if i == 0 {
			label = "  workers"
		}
		health := "health off"
		if wk.Health != "" {
			health = "health " + wk.Health
		}
		fmt.Fprintf(w, "%-9s  %s (role %s, %d slots, %s)\n", label, wk.Host, wk.Role, wk.Slots, health)
	}
	if len(info.Workers) == 0 {
		fmt.Fprintln(w, "  workers  none: no host has a local address (fix: --env dev, or give hosts a loopback address or connection: local)")
	}
	if len(info.Remote) > 0 {
		fmt.Fprintf(w, "  remote   %s (not local: no worker here)\n", strings.Join(info.Remote, ", "))
	}
	if b := info.Beat; b != nil {
		scheds := "no schedules"
		if len(b.Schedules) > 0 {
			scheds = plural(len(b.Schedules), "schedule") + ": " + strings.Join(b.Schedules, ", ")
		}
		fmt.Fprintf(w, "  beat     %s (%s; %s)\n", b.ID, b.Role, scheds)
	}
	fmt.Fprintln(w, "\nTry, in another terminal:")
	for _, t := range info.Try {
		fmt.Fprintln(w, "  "+t)
	}
	fmt.Fprintln(w, "\nCtrl-C stops cl dev.")
	return nil
}
