package reconcile

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/schedule"
)

const fleet = "../examples/fleet/cl.yaml"

// loadFleet loads the example fleet, with edit applied to cl.yaml's text.
func loadFleet(t *testing.T, edit func(string) string) *config.Config {
	t.Helper()
	b, err := os.ReadFile(fleet)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	if edit != nil {
		text = edit(text)
	}
	cfg, _, err := config.LoadValid(config.Options{Path: fleet, Env: "dev", Content: []byte(text)})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// files is a config tree: path -> content marker.
type files map[string]string

func (f files) with(kv ...string) files {
	out := files{}
	for k, v := range f {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func rev(sha string, cfg *config.Config, f files) *Revision {
	r := &Revision{SHA: sha, Config: cfg}
	for p, d := range f {
		r.Files = append(r.Files, File{Path: p, Digest: d})
	}
	return r
}

var tree = files{
	"cl.yaml":                               "1",
	"environments/dev.yaml":                 "1",
	"tasks/nginx_management.yaml":           "1",
	"tasks/nginx_management/reload.sh":      "1",
	"tasks/mysql_management.yaml":           "1",
	"tasks/mysql_management/backup.sh":      "1",
	"tasks/lib/common.sh":                   "1",
	"tasks/apt_management/upgrade_packages": "1",
}

const (
	shaA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	shaB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

// appliedAt is a state with every host of cfg applied at sha.
func appliedAt(cfg *config.Config, sha string) State {
	st := State{ClusterID: "c1", Generation: 3, SHA: sha, Hosts: map[string]HostApplied{}}
	for _, h := range cfg.Hosts.Keys() {
		st.Hosts[h] = HostApplied{SHA: sha, OK: true}
	}
	return st
}

func running(cfg *config.Config, sha string) map[string]Observation {
	obs := map[string]Observation{}
	for _, h := range cfg.Hosts.Keys() {
		obs[h] = Observation{Reachable: true, Current: sha, Worker: sha}
	}
	return obs
}

func actions(p *Plan) string {
	var lines []string
	for _, a := range p.Actions {
		lines = append(lines, a.String())
	}
	return strings.Join(lines, "\n")
}

func published(cfg *config.Config, sha string) *schedule.Set {
	return schedule.FromConfig(cfg, sha, "agent")
}

func TestPlan(t *testing.T) {
	cfg := loadFleet(t, nil)
	cronChanged := loadFleet(t, func(s string) string { return strings.Replace(s, `cron: "0 1 * * *"`, `cron: "0 5 * * *"`, 1) })
	a := rev(shaA, cfg, tree)
	assessOnly := loadFleet(t, func(s string) string {
		return strings.Replace(s, "    role: database\n", "    role: database\n    assess_only: true\n", 1)
	})
	cases := map[string]struct {
		in   Input
		want string
	}{
		"first apply: every host is new, schedules published": {
			in: Input{To: a},
			want: "deploy webserver01 → aaaaaaa (new host)\ndeploy webserver02 → aaaaaaa (new host)\n" +
				"deploy dbserver01 → aaaaaaa (new host)\nreload scheduler (no schedule set published yet)",
		},
		"in sync": {
			in: Input{To: a, State: appliedAt(cfg, shaA), Observed: running(cfg, shaA), Published: published(cfg, shaA)},
		},
		"one task file: only the roles that load its module": {
			in: Input{To: rev(shaB, cfg, tree.with("tasks/nginx_management/reload.sh", "2")), State: appliedAt(cfg, shaA),
				Revisions: map[string]*Revision{shaA: a}, Observed: running(cfg, shaA), Published: published(cfg, shaA)},
			want: "deploy webserver01 aaaaaaa → bbbbbbb (tasks/nginx_management/reload.sh changed)\n" +
				"deploy webserver02 aaaaaaa → bbbbbbb (tasks/nginx_management/reload.sh changed)",
		},
		"a shared file reaches every role": {
			in: Input{To: rev(shaB, cfg, tree.with("tasks/lib/common.sh", "2", "tasks/lib/new.sh", "1")), State: appliedAt(cfg, shaA),
				Revisions: map[string]*Revision{shaA: a}, Observed: running(cfg, shaA), Published: published(cfg, shaA)},
			want: "deploy webserver01 aaaaaaa → bbbbbbb (2 files changed under tasks/lib)\n" +
				"deploy webserver02 aaaaaaa → bbbbbbb (2 files changed under tasks/lib)\n" +
				"deploy dbserver01 aaaaaaa → bbbbbbb (2 files changed under tasks/lib)",
		},
		"a cron change reloads the scheduler and deploys nothing": {
			in: Input{To: rev(shaB, cronChanged, tree.with("cl.yaml", "2")), State: appliedAt(cfg, shaA),
				Revisions: map[string]*Revision{shaA: a}, Observed: running(cfg, shaA), Published: published(cfg, shaA)},
			want: "reload scheduler (schedules changed: backup_databases)",
		},
		"drift is repaired": {
			in: Input{To: a, State: appliedAt(cfg, shaA), Published: published(cfg, shaA),
				Observed: func() map[string]Observation {
					o := running(cfg, shaA)
					o["dbserver01"] = Observation{Reachable: true, Current: shaB, Worker: shaB}
					o["webserver02"] = Observation{Reachable: true, Current: shaA, Worker: ""}
					return o
				}()},
			want: "deploy webserver02 aaaaaaa → aaaaaaa (drift: no live worker)\n" +
				"deploy dbserver01 bbbbbbb → aaaaaaa (drift: runs bbbbbbb, applied aaaaaaa)",
		},
		"a failed host is retried": {
			in: Input{To: a, Published: published(cfg, shaA), Observed: running(cfg, shaA),
				State: func() State {
					st := appliedAt(cfg, shaA)
					st.Hosts["webserver01"] = HostApplied{SHA: shaA, OK: false, Error: "health: no heartbeat\nmore"}
					return st
				}()},
			want: "deploy webserver01 aaaaaaa → aaaaaaa (last apply failed: health: no heartbeat)",
		},
		"unreachable is unknown, a host that left is kept without prune": {
			in: Input{To: a, Published: published(cfg, shaA),
				State: func() State {
					st := appliedAt(cfg, shaA)
					st.Hosts["old1"] = HostApplied{SHA: shaA, OK: true}
					return st
				}(),
				Observed: func() map[string]Observation {
					o := running(cfg, shaA)
					o["webserver01"] = Observation{Error: "dial tcp: i/o timeout"}
					return o
				}()},
		},
		"prune removes a host that left, never an unreachable one": {
			in: Input{To: a, Published: published(cfg, shaA), Prune: true,
				State: func() State {
					st := appliedAt(cfg, shaA)
					st.Hosts["old1"] = HostApplied{SHA: shaA, OK: true}
					return st
				}(),
				Observed: func() map[string]Observation {
					o := running(cfg, shaA)
					o["webserver01"] = Observation{Error: "dial tcp: i/o timeout"}
					return o
				}()},
			want: "remove old1 (not in cl.yaml; prune on)",
		},
		"hosts deployed before the agent: compared with what they run": {
			in: Input{To: rev(shaB, cfg, tree.with("tasks/mysql_management/backup.sh", "2")), Revisions: map[string]*Revision{shaA: a},
				Observed: running(cfg, shaA), Published: published(cfg, shaA)},
			want: "deploy dbserver01 aaaaaaa → bbbbbbb (tasks/mysql_management/backup.sh changed)",
		},
		"drift only": {
			in: Input{To: rev(shaB, cfg, tree.with("tasks/lib/common.sh", "2")), State: appliedAt(cfg, shaA), DriftOnly: true,
				Revisions: map[string]*Revision{shaA: a}, Published: published(cfg, shaA),
				Observed: func() map[string]Observation {
					o := running(cfg, shaA)
					o["dbserver01"] = Observation{Reachable: true, Current: "", Worker: ""}
					return o
				}()},
			want: "deploy dbserver01 → bbbbbbb (drift: runs nothing, applied aaaaaaa)",
		},
		"self-heal off: drift is not repaired": {
			in: Input{To: rev(shaA, cfg, tree), State: appliedAt(cfg, shaA), NoRepair: true,
				Revisions: map[string]*Revision{shaA: a}, Published: published(cfg, shaA),
				Observed: func() map[string]Observation {
					o := running(cfg, shaA)
					o["dbserver01"] = Observation{Reachable: true, Current: "", Worker: ""}
					return o
				}()},
			want: "",
		},
		"assess-only host: drift is not repaired, the others are": {
			in: Input{To: rev(shaA, assessOnly, tree), State: appliedAt(assessOnly, shaA),
				Revisions: map[string]*Revision{shaA: a}, Published: published(assessOnly, shaA),
				Observed: func() map[string]Observation {
					o := running(assessOnly, shaA)
					o["dbserver01"] = Observation{Reachable: true, Current: "", Worker: ""}
					o["webserver01"] = Observation{Reachable: true, Current: shaA, Worker: ""}
					return o
				}()},
			want: "deploy webserver01 aaaaaaa → aaaaaaa (drift: no live worker)",
		},
		"the applied commit cannot be read: whole release": {
			in: Input{To: rev(shaB, cfg, tree), State: appliedAt(cfg, shaA), Observed: running(cfg, shaA), Published: published(cfg, shaA)},
			want: "deploy webserver01 aaaaaaa → bbbbbbb (the commit it runs (aaaaaaa) cannot be read: deploying the whole release)\n" +
				"deploy webserver02 aaaaaaa → bbbbbbb (the commit it runs (aaaaaaa) cannot be read: deploying the whole release)\n" +
				"deploy dbserver01 aaaaaaa → bbbbbbb (the commit it runs (aaaaaaa) cannot be read: deploying the whole release)",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := actions(Build(tc.in)); got != tc.want {
				t.Errorf("actions:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestPlanHostStates(t *testing.T) {
	cfg := loadFleet(t, nil)
	a := rev(shaA, cfg, tree)
	st := appliedAt(cfg, shaA)
	st.Hosts["old1"] = HostApplied{SHA: shaA, OK: true}
	obs := running(cfg, shaA)
	obs["webserver01"] = Observation{Error: "dial tcp 127.0.0.11:22: connect: connection refused"}
	obs["dbserver01"] = Observation{Reachable: true, Current: shaB, Worker: shaB}
	p := Build(Input{To: a, State: st, Observed: obs, Published: published(cfg, shaA)})
	got := map[string]HostState{}
	for _, f := range p.Hosts {
		got[f.Host] = f.State
	}
	want := map[string]HostState{"webserver01": StateUnknown, "webserver02": StateInSync, "dbserver01": StateDrifted, "old1": StateExtra}
	for h, s := range want {
		if got[h] != s {
			t.Errorf("%s: state %s, want %s", h, got[h], s)
		}
	}
	if p.Drifted() != 1 {
		t.Errorf("Drifted() = %d, want 1", p.Drifted())
	}
	var out bytes.Buffer
	if err := p.WriteText(&out, Colors{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"! deploy dbserver01 bbbbbbb → aaaaaaa (drift: runs bbbbbbb, applied aaaaaaa)",
		"webserver01: unknown (unreachable: dial tcp", "old1: extra (not in cl.yaml; prune off: left alone)",
		"1 action: 1 deploy (1 repairing drift)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("text plan lacks %q:\n%s", want, out.String())
		}
	}
}

func TestPlanRoundTrip(t *testing.T) {
	cfg := loadFleet(t, nil)
	p := Build(Input{To: rev(shaA, cfg, tree), ID: "p1", Now: time.Unix(100, 0).UTC()})
	b, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	q, err := DecodePlan(b)
	if err != nil {
		t.Fatal(err)
	}
	if q.ID != "p1" || q.To != shaA || len(q.Actions) != len(p.Actions) || q.FormatVersion != FormatVersion {
		t.Errorf("round trip changed the plan: %+v", q)
	}
	for _, bad := range []string{`{}`, `not json`, `{"format_version": 9, "id": "x", "to": "y"}`} {
		if _, err := DecodePlan([]byte(bad)); err == nil {
			t.Errorf("DecodePlan(%s) accepted", bad)
		}
	}
}

func TestBadSHARetry(t *testing.T) {
	t0 := time.Unix(1000, 0)
	for _, tc := range []struct {
		attempts int
		want     time.Duration
	}{{1, 2 * time.Second}, {2, 6 * time.Second}, {3, 18 * time.Second}, {6, 5 * time.Minute}, {40, 5 * time.Minute}} {
		if got := (BadSHA{Attempts: tc.attempts, Last: t0}).RetryAt().Sub(t0); got != tc.want {
			t.Errorf("attempt %d: retry after %s, want %s", tc.attempts, got, tc.want)
		}
	}
}
