package fleet_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/deploy"
	"github.com/celeroot/celeroot/fleet"
	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/queue/queuetest"
)

const clYAML = `cluster:
  name: shop
hosts:
  blue-web1: {role: web, address: blue-web1.example.com, fleet: blue}
  blue-web2: {role: web, address: blue-web2.example.com, fleet: blue}
workers:
  web: {queue: web, concurrency: 2}
`

func setup(t *testing.T) (config.Options, *config.Config, *queue.Queue) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "cl.yaml")
	if err := os.WriteFile(path, []byte(clYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "tasks"), 0o755); err != nil {
		t.Fatal(err)
	}
	opts := config.Options{Path: path}
	return opts, reload(t, opts), queuetest.Opener(queuetest.StartMiniredis(t))(t)
}

func reload(t *testing.T, opts config.Options) *config.Config {
	t.Helper()
	cfg, _, err := config.LoadValid(opts)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// stopper records the hosts whose worker it was asked to stop; fail makes
// one host unreachable.
type stopper struct {
	stopped []string
	fail    string
}

func (s *stopper) StopWorker(_ context.Context, h *config.Host, purge bool) (*deploy.RemoveReport, error) {
	if h.Name == s.fail {
		return nil, errors.New("connection refused")
	}
	s.stopped = append(s.stopped, h.Name)
	return &deploy.RemoveReport{Host: h.Name, Stopped: true, Purged: purge}, nil
}

func TestCreateSwitchDestroy(t *testing.T) {
	ctx := context.Background()
	opts, cfg, q := setup(t)
	if name, err := fleet.Route(ctx, cfg, q, ""); err != nil || name != "blue" {
		t.Fatalf("route before any switch: %q %v, want the first fleet", name, err)
	}
	res, err := fleet.Create(ctx, cfg, fleet.CreateOptions{Load: opts, Clone: config.CloneSpec{Name: "green", From: "blue"}})
	if err != nil || len(res.Hosts) != 2 || res.Edit.Committed != "" {
		t.Fatalf("create: %+v %v", res, err)
	}
	cfg = reload(t, opts)
	if got := cfg.FleetHosts("green"); len(got) != 2 || got[0].Address != "green-web1.example.com" {
		t.Fatalf("green after create: %v", got)
	}
	if _, err := fleet.Create(ctx, cfg, fleet.CreateOptions{Load: opts, Clone: config.CloneSpec{Name: "green", From: "blue"}}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("create an existing fleet: %v", err)
	}

	// Destroying the active fleet is refused, naming the fix.
	st := &stopper{}
	_, err = fleet.Destroy(ctx, cfg, q, q, st, fleet.DestroyOptions{Load: opts, Name: "blue"})
	if !errors.Is(err, fleet.ErrActive) || !strings.Contains(err.Error(), "cl cluster switch green") || len(st.stopped) != 0 {
		t.Fatalf("destroy the active fleet: %v (stopped %v)", err, st.stopped)
	}

	sw, err := fleet.Switch(ctx, cfg, q, nil, "green", "tester")
	if err != nil || !sw.Changed || sw.From != "blue" || sw.State.Gen != 1 || sw.State.By != "tester" {
		t.Fatalf("switch: %+v %v", sw, err)
	}
	if name, _ := fleet.Route(ctx, cfg, q, ""); name != "green" {
		t.Fatalf("route after the switch: %q", name)
	}
	if name, _ := fleet.Route(ctx, cfg, q, "blue"); name != "blue" {
		t.Fatalf("route with --cluster blue: %q", name)
	}
	if _, err := fleet.Route(ctx, cfg, q, "red"); err == nil {
		t.Fatal("route to an unknown fleet accepted")
	}
	if again, err := fleet.Switch(ctx, cfg, q, nil, "green", "tester"); err != nil || again.Changed {
		t.Fatalf("switch to the active fleet: %+v %v", again, err)
	}
	rep, err := fleet.Status(ctx, cfg, q)
	if err != nil || rep.Active != "green" || len(rep.Fleets) != 2 || !rep.Fleets[1].Active || rep.Fleets[0].Queues[0] != "role:web@blue" {
		t.Fatalf("status: %+v %v", rep, err)
	}

	// An unreachable host stops the destroy before Redis or cl.yaml change.
	if _, _, err := q.Enqueue(ctx, &queue.Run{Task: "ping", Module: "builtin", Target: "role:web@blue"}, ""); err != nil {
		t.Fatal(err)
	}
	st = &stopper{fail: "blue-web2"}
	if _, err = fleet.Destroy(ctx, cfg, q, q, st, fleet.DestroyOptions{Load: opts, Name: "blue"}); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("destroy with an unreachable host: %v", err)
	}
	if !reload(t, opts).HasFleet("blue") {
		t.Fatal("a failed destroy edited cl.yaml")
	}
	st = &stopper{}
	dr, err := fleet.Destroy(ctx, cfg, q, q, st, fleet.DestroyOptions{Load: opts, Name: "blue", Purge: true})
	if err != nil || len(st.stopped) != 2 || dr.DeletedKeys == 0 || !dr.Stopped[0].Purged {
		t.Fatalf("destroy blue: %+v %v (stopped %v)", dr, err, st.stopped)
	}
	cfg = reload(t, opts)
	if cfg.HasFleet("blue") || len(cfg.FleetHosts("green")) != 2 {
		t.Fatalf("fleets after destroy: %v", cfg.Fleets())
	}
}

func TestNoFleetsNoRouting(t *testing.T) {
	ctx := context.Background()
	opts, _, q := setup(t)
	if err := os.WriteFile(opts.Path, []byte(strings.ReplaceAll(clYAML, ", fleet: blue", "")), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := reload(t, opts)
	if name, err := fleet.Route(ctx, cfg, q, ""); err != nil || name != "" {
		t.Fatalf("route without fleets: %q %v", name, err)
	}
	if rep, err := fleet.Status(ctx, cfg, q); err != nil || rep != nil {
		t.Fatalf("status without fleets: %+v %v", rep, err)
	}
	if _, err := fleet.Switch(ctx, cfg, q, nil, "green", "x"); err == nil || !strings.Contains(err.Error(), "has no fleets") {
		t.Fatalf("switch without fleets: %v", err)
	}
}
