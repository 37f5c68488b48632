package drift

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/hostexec"
	"github.com/celeroot/celeroot/queue"
)

type fakeHeartbeats map[string]string // host → SHA; "!" fails

func (f fakeHeartbeats) Worker(ctx context.Context, host string) (queue.Heartbeat, bool, error) {
	sha, ok := f[host]
	if sha == "!" {
		return queue.Heartbeat{}, false, errors.New("redis down")
	}
	return queue.Heartbeat{Host: host, SHA: sha}, ok, nil
}

// listedHeartbeats lists every live heartbeat in one read (as queue.Queue
// does); a host's own read fails the test, unless listing fails too.
type listedHeartbeats struct {
	fakeHeartbeats
	lists     int
	listFails bool
	ownReads  atomic.Int32 // concurrent
}

var _ HeartbeatLister = (*queue.Queue)(nil)

func (l *listedHeartbeats) Workers(ctx context.Context) ([]queue.Heartbeat, error) {
	l.lists++
	if l.listFails {
		return nil, errors.New("redis down")
	}
	var out []queue.Heartbeat
	for h, sha := range l.fakeHeartbeats {
		out = append(out, queue.Heartbeat{Host: h, SHA: sha})
	}
	return out, nil
}

func (l *listedHeartbeats) Worker(ctx context.Context, host string) (queue.Heartbeat, bool, error) {
	l.ownReads.Add(1)
	return l.fakeHeartbeats.Worker(ctx, host)
}

// pathHost is the local transport with dir first on PATH, so a test can
// stand in for the host's programs.
type pathHost struct {
	hostexec.Local
	dir string
}

func (p *pathHost) Run(ctx context.Context, c hostexec.Command) (hostexec.Result, error) {
	c.Env = map[string]string{"PATH": p.dir + ":" + os.Getenv("PATH")}
	return p.Local.Run(ctx, c)
}

// target makes a target directory whose current points to releases/sha
// ("" for none).
func target(t *testing.T, sha string) string {
	dir := t.TempDir()
	if sha != "" {
		if err := os.MkdirAll(filepath.Join(dir, "releases", sha), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("releases/"+sha, filepath.Join(dir, "current")); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestObserveCurrentAndWorker(t *testing.T) {
	hosts := []*config.Host{{Name: "a", Address: "127.0.0.1"}, {Name: "b", Address: "127.0.0.1"}, {Name: "c", Address: "127.0.0.1"}}
	op := OpenerFunc(func(ctx context.Context, h *config.Host) (hostexec.Host, error) {
		return &hostexec.Local{Name: h.Name}, nil
	})
	cases := []struct {
		name        string
		current     string
		hb          Heartbeats
		wantWorkers []string
	}{
		{"no heartbeat source", "abc123", nil, []string{"?", "?", "?"}},
		{"heartbeats", "abc123", fakeHeartbeats{"a": "abc123", "b": "old456", "c": "!"}, []string{"abc123", "old456", ""}},
		{"nothing deployed", "", fakeHeartbeats{}, []string{"", "", ""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := target(t, tc.current)
			calls := 0
			got := Observe(context.Background(), op, hosts, ObserveOptions{TargetDir: dir, Heartbeats: tc.hb, Parallel: 2,
				Progress: func(done, total int, _ Observation) { calls++ }})
			if calls != len(hosts) {
				t.Errorf("progress called %d times", calls)
			}
			for i, o := range got {
				if o.Host != hosts[i].Name || !o.Reachable || o.Error != "" || o.Current != tc.current || o.Worker != tc.wantWorkers[i] {
					t.Errorf("%s: got %+v, want current %q worker %q", hosts[i].Name, o, tc.current, tc.wantWorkers[i])
				}
				if o.Facts != nil || o.HostKey != HostKeyLocal {
					t.Errorf("%s: facts %v host key %s without Facts asked", o.Host, o.Facts, o.HostKey)
				}
			}
		})
	}
}

// A source that lists heartbeats is read once for all the hosts; when the
// listing fails, each host's heartbeat is read on its own.
func TestObserveReadsHeartbeatsInOneGo(t *testing.T) {
	hosts := []*config.Host{{Name: "a", Address: "127.0.0.1"}, {Name: "b", Address: "127.0.0.1"}, {Name: "c", Address: "127.0.0.1"}}
	op := OpenerFunc(func(ctx context.Context, h *config.Host) (hostexec.Host, error) {
		return &hostexec.Local{Name: h.Name}, nil
	})
	for _, fails := range []bool{false, true} {
		hb := &listedHeartbeats{fakeHeartbeats: fakeHeartbeats{"a": "abc123", "b": "old456"}, listFails: fails}
		got := Observe(context.Background(), op, hosts, ObserveOptions{TargetDir: target(t, "abc123"), Heartbeats: hb})
		for i, want := range []string{"abc123", "old456", WorkerNone} {
			if got[i].Worker != want {
				t.Errorf("listing fails %v: %s: worker %q, want %q", fails, got[i].Host, got[i].Worker, want)
			}
		}
		wantOwn := 0
		if fails {
			wantOwn = len(hosts)
		}
		if hb.lists != 1 || int(hb.ownReads.Load()) != wantOwn {
			t.Errorf("listing fails %v: %d listings and %d reads of one host, want 1 and %d", fails, hb.lists, hb.ownReads.Load(), wantOwn)
		}
	}
}

func TestObserveFactsInTheSameCommand(t *testing.T) {
	dir := target(t, "feed01")
	runs := 0
	op := OpenerFunc(func(ctx context.Context, h *config.Host) (hostexec.Host, error) {
		return countingHost{Host: &hostexec.Local{Name: h.Name}, n: &runs}, nil
	})
	got := Observe(context.Background(), op, []*config.Host{{Name: "a", Address: "127.0.0.1"}},
		ObserveOptions{TargetDir: dir, Facts: true, Service: "celeroot-worker-none"})
	o := got[0]
	if !o.Reachable || o.Current != "feed01" || o.Facts == nil || o.Facts.Kernel == "" || o.Facts.CPUs < 1 || o.Facts.DiskPath != dir {
		t.Fatalf("got %+v facts %+v", o, o.Facts)
	}
	if runs != 1 {
		t.Errorf("%d commands run, want one", runs)
	}
	if !o.Facts.Systemd && (o.ServiceActive != nil || o.ServiceEnabled != nil) {
		t.Errorf("service state %v/%v reported on a host without systemd", o.ServiceActive, o.ServiceEnabled)
	}
	if o.Facts.Systemd && (o.ServiceActive == nil || *o.ServiceActive) {
		t.Errorf("unit that does not exist: active %v", o.ServiceActive)
	}
}

type countingHost struct {
	hostexec.Host
	n *int
}

func (c countingHost) Run(ctx context.Context, cmd hostexec.Command) (hostexec.Result, error) {
	*c.n++
	return c.Host.Run(ctx, cmd)
}

func TestObserveUnreachableAndBrokenHosts(t *testing.T) {
	fakes := t.TempDir()
	// readlink that never stops printing (run for a link that does not
	// resolve): the observation must stop it at its cap and say so.
	if err := os.WriteFile(filepath.Join(fakes, "readlink"), []byte("#!/bin/sh\nexec yes releases/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	hosts := []*config.Host{{Name: "refused", Address: "10.0.0.2"}, {Name: "flood", Address: "127.0.0.1"}, {Name: "noshell", Address: "127.0.0.1"}}
	op := OpenerFunc(func(ctx context.Context, h *config.Host) (hostexec.Host, error) {
		switch h.Name {
		case "refused":
			return nil, fmt.Errorf("connect: %w", hostexec.ErrRefused)
		case "flood":
			return &pathHost{Local: hostexec.Local{Name: h.Name, KillGrace: 1e9}, dir: fakes}, nil
		}
		return &exitHost{}, nil
	})
	dangling := t.TempDir()
	if err := os.Symlink("releases/gone", filepath.Join(dangling, "current")); err != nil {
		t.Fatal(err)
	}
	got := Observe(context.Background(), op, hosts, ObserveOptions{TargetDir: dangling, Heartbeats: fakeHeartbeats{"flood": "abc"}})
	want := []struct{ reason, errPart string }{
		{"refused", "connection refused"},
		{"output too large", "printed more than"},
		{"error", "exit status 2"},
	}
	for i, w := range want {
		o := got[i]
		if o.Reachable || o.Reason != w.reason || !strings.Contains(o.Error, w.errPart) || strings.Contains(o.Error, "\n") {
			t.Errorf("%s: got reason %q error %q, want %q containing %q on one line", o.Host, o.Reason, o.Error, w.reason, w.errPart)
		}
	}
	if got[0].Connected() || !got[1].Connected() {
		t.Errorf("Connected: refused %v, flood %v", got[0].Connected(), got[1].Connected())
	}
	if got[1].Worker != "abc" {
		t.Errorf("the heartbeat of an unreachable host: %q", got[1].Worker)
	}
}

// exitHost runs nothing: every command exits 2.
type exitHost struct{ hostexec.Local }

func (*exitHost) Run(ctx context.Context, c hostexec.Command) (hostexec.Result, error) {
	return hostexec.Result{ExitCode: 2}, nil
}

// Where current points, as a release name when it resolves into the
// releases directory (however the link is written), else as the path or
// the link's text, which names no release.
func TestObserveCurrentForms(t *testing.T) {
	op := OpenerFunc(func(ctx context.Context, h *config.Host) (hostexec.Host, error) {
		return &hostexec.Local{Name: h.Name}, nil
	})
	elsewhere := t.TempDir()
	cases := []struct {
		name, link, want string
		releases         []string
	}{
		{"relative", "releases/abc", "abc", []string{"abc"}},
		{"absolute into releases", "", "abc", []string{"abc"}},
		{"outside releases", elsewhere, elsewhere, []string{"abc"}},
		{"dangling", "releases/gone", "gone", []string{"abc"}},
		{"no releases directory", "", "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, r := range tc.releases {
				if err := os.MkdirAll(filepath.Join(dir, "releases", r), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			link := tc.link
			if link == "" && tc.releases != nil {
				link = filepath.Join(dir, "releases", "abc")
			}
			if link != "" {
				if err := os.Symlink(link, filepath.Join(dir, "current")); err != nil {
					t.Fatal(err)
				}
			}
			got := Observe(context.Background(), op, []*config.Host{{Name: "a", Address: "127.0.0.1"}}, ObserveOptions{TargetDir: dir})[0]
			if !got.Reachable || got.Current != tc.want || !slices.Equal(got.Releases, tc.releases) {
				t.Errorf("current %q releases %q (error %q), want %q and %q", got.Current, got.Releases, got.Error, tc.want, tc.releases)
			}
		})
	}
}

// The listing of releases stops at 100, newest first.
func TestObserveReleasesCapped(t *testing.T) {
	dir := target(t, "r000")
	base := time.Now().Add(-time.Hour)
	for i := range 120 {
		p := filepath.Join(dir, "releases", fmt.Sprintf("r%03d", i))
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, base.Add(time.Duration(i)*time.Second), base.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	op := OpenerFunc(func(ctx context.Context, h *config.Host) (hostexec.Host, error) {
		return &hostexec.Local{Name: h.Name}, nil
	})
	got := Observe(context.Background(), op, []*config.Host{{Name: "a", Address: "127.0.0.1"}}, ObserveOptions{TargetDir: dir})[0]
	if len(got.Releases) != 100 || got.Releases[0] != "r119" || got.Releases[99] != "r020" || got.Current != "r000" {
		t.Errorf("%d releases, first %q, last %q, current %q", len(got.Releases), got.Releases[0], got.Releases[len(got.Releases)-1], got.Current)
	}
}

// SkipReleaseList reads current with the shell alone: no program runs
// (a PATH with nothing in it), and no releases are listed.
func TestObserveCurrentWithoutPrograms(t *testing.T) {
	dir := target(t, "abc123")
	op := OpenerFunc(func(ctx context.Context, h *config.Host) (hostexec.Host, error) {
		return &emptyPathHost{Local: hostexec.Local{Name: h.Name}}, nil
	})
	got := Observe(context.Background(), op, []*config.Host{{Name: "a", Address: "127.0.0.1"}}, ObserveOptions{TargetDir: dir, SkipReleaseList: true})[0]
	if !got.Reachable || got.Current != "abc123" || got.Releases != nil {
		t.Errorf("got %+v", got)
	}
}

// emptyPathHost runs commands with a PATH where nothing is found.
type emptyPathHost struct{ hostexec.Local }

func (p *emptyPathHost) Run(ctx context.Context, c hostexec.Command) (hostexec.Result, error) {
	c.Env = map[string]string{"PATH": "/nonexistent"}
	return p.Local.Run(ctx, c)
}
