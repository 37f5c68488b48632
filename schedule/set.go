package schedule

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/dispatch"
)

// Set is what the beat fires: the schedules of one configuration, with the
// hosts their targets are matched against and each schedule's task
// resolved (parameters checked, defaults filled) for every role it reaches.
// It is plain data so that it can be published in Redis (Publish) by
// whoever applied the configuration: a beat or the GitOps agent.
type Set struct {
	// SHA is the config repository commit the set was built from ("" when
	// unknown, e.g. a file outside git).
	SHA string `json:"sha,omitempty"`
	// Source says who built it: "agent", or "file:<path of cl.yaml>".
	Source    string  `json:"source,omitempty"`
	Schedules []Spec  `json:"schedules"`
	Hosts     []Host  `json:"hosts"`
	Backup    *Backup `json:"backup,omitempty"`
}

// Spec is one schedule of a Set.
type Spec struct {
	Name        string `json:"name"`
	Cron        string `json:"cron"`
	Timezone    string `json:"timezone,omitempty"`
	Description string `json:"description,omitempty"`
	Enabled     bool   `json:"enabled"`
	// Catchup is "none" or "once" (default once).
	Catchup string `json:"catchup,omitempty"`
	// StartingDeadlineMS bounds how late a tick may still fire (default 1h).
	StartingDeadlineMS int64 `json:"starting_deadline_ms,omitempty"`
	// Concurrency is the schedule's policy; the worker applies it.
	Concurrency config.ConcurrencyPolicy `json:"concurrency,omitempty"`
	Targets     []config.Target          `json:"targets"`
	// Tasks is the schedule's task resolved for each role it reaches.
	Tasks map[string]TaskRun `json:"tasks"`
}

// TaskRun is a schedule's task as the hosts of one role run it.
type TaskRun struct {
	Task       string         `json:"task,omitempty"`
	Module     string         `json:"module,omitempty"`
	Params     map[string]any `json:"params,omitempty"`
	TimeoutMS  int64          `json:"timeout_ms,omitempty"`
	MaxRetries int            `json:"max_retries,omitempty"`
	// Error says why the role cannot run the task; its hosts are counted
	// as errors at each fire instead of getting a run.
	Error string `json:"error,omitempty"`
}

// Host is a host as targets see it.
type Host struct {
	Name string            `json:"name"`
	Role string            `json:"role"`
	Tags map[string]string `json:"tags,omitempty"`
	// Fleet is the host's blue-green fleet (empty without fleets): the
	// beat fires only to the hosts of the active fleet.
	Fleet string `json:"fleet,omitempty"`
}

// Backup is the internal schedule that snapshots celeroot's Redis keys
// (redis.backup in cl.yaml). It fires in UTC.
type Backup struct {
	Schedule  string `json:"schedule"`
	Directory string `json:"directory"`
	Keep      int    `json:"keep"`
}

// BackupName is the name the backup schedule goes by in status and in
// Redis; no cl.yaml schedule can have it ('@' is not allowed in names).
const BackupName = "@redis-backup"

// FromConfig builds the Set of cfg. sha is the commit cfg was read at ("" if
// unknown) and source says who built it ("agent" or "file:<path>").
func FromConfig(cfg *config.Config, sha, source string) *Set {
	set := &Set{SHA: sha, Source: source, Schedules: []Spec{}, Hosts: []Host{}}
	for _, h := range cfg.Hosts.Values() {
		set.Hosts = append(set.Hosts, Host{Name: h.Name, Role: h.Role, Tags: h.Tags, Fleet: h.Fleet})
	}
	for _, s := range cfg.Schedules.Values() {
		set.Schedules = append(set.Schedules, specOf(cfg, s))
	}
	if b := cfg.Redis.Backup; b.Enabled {
		set.Backup = &Backup{Schedule: b.Schedule, Directory: b.Directory, Keep: b.Keep}
	}
	return set
}

func specOf(cfg *config.Config, s *config.Schedule) Spec {
	sp := Spec{
		Name: s.Name, Cron: s.Cron, Timezone: s.Timezone, Description: s.Description,
		Enabled: s.IsEnabled(), Catchup: s.Catchup, StartingDeadlineMS: s.StartingDeadline.D().Milliseconds(),
		Concurrency: s.Concurrency, Targets: s.Targets, Tasks: map[string]TaskRun{},
	}
	for _, role := range cfg.ScheduleRoles(s) {
		sp.Tasks[role] = taskRunFor(cfg, s, role)
	}
	return sp
}

func taskRunFor(cfg *config.Config, s *config.Schedule, role string) TaskRun {
	sp, err := dispatch.Resolve(cfg, role, s.Task, s.Params)
	var noRole *config.ErrNoRole
	var pe *dispatch.ParamsError
	switch {
	case errors.As(err, &noRole):
		return TaskRun{Error: fmt.Sprintf("role %q is not defined under workers", role)}
	case errors.As(err, &pe):
		return TaskRun{Error: fmt.Sprintf("params of task %s: %v", pe.Task.Ref(), pe.Errs[0])}
	case err != nil:
		return TaskRun{Error: fmt.Sprintf("role %s cannot run task %q: %v", role, s.Task, err)}
	}
	return TaskRun{Task: sp.Task, Module: sp.Module, Params: sp.Params, TimeoutMS: sp.Timeout.Milliseconds(), MaxRetries: sp.MaxRetries}
}

// Digest identifies the set's content (schedules, hosts, backup), not who
// built it: two beats that loaded equal sets have equal digests.
func (s *Set) Digest() string {
	b, _ := json.Marshal(struct {
		S []Spec
		H []Host
		B *Backup
	}{s.Schedules, s.Hosts, s.Backup})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// Label is the SHA if known, else "digest <digest>".
func (s *Set) Label() string {
	if s.SHA != "" {
		return s.SHA
	}
	return "digest " + s.Digest()
}

// StartingDeadline returns the spec's starting deadline (default 1h).
func (sp *Spec) StartingDeadline() time.Duration {
	if sp.StartingDeadlineMS <= 0 {
		return config.DefaultStartingDeadline
	}
	return time.Duration(sp.StartingDeadlineMS) * time.Millisecond
}

// HostsFor returns the hosts the spec's targets reach (a union, in the
// set's host order).
func (s *Set) HostsFor(sp *Spec) []Host {
	return s.fleetHostsFor(sp, "")
}

// DefaultFleet is the fleet active until the first switch: the fleet of
// the first host that has one ("" without fleets).
func (s *Set) DefaultFleet() string {
	for _, h := range s.Hosts {
		if h.Fleet != "" {
			return h.Fleet
		}
	}
	return ""
}

// fleetHostsFor is HostsFor limited to fleet's hosts (all hosts when fleet
// is empty).
func (s *Set) fleetHostsFor(sp *Spec, fleet string) []Host {
	var out []Host
	for _, h := range s.Hosts {
		if fleet != "" && h.Fleet != fleet {
			continue
		}
		if slices.ContainsFunc(sp.Targets, func(t config.Target) bool { return matches(t, h) }) {
			out = append(out, h)
		}
	}
	return out
}

// matches is config.Target's rule on a Set host.
func matches(t config.Target, h Host) bool {
	switch {
	case t.Role != "":
		return h.Role == t.Role
	case len(t.Tags) > 0:
		for k, v := range t.Tags {
			if h.Tags[k] != v {
				return false
			}
		}
		return true
	case t.Host != "":
		return h.Name == t.Host
	case len(t.Hosts) > 0:
		return slices.Contains(t.Hosts, h.Name)
	}
	return false
}

// DecodeSet parses a published set.
func DecodeSet(b []byte) (*Set, error) {
	var s Set
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decode schedule set: %w", err)
	}
	return &s, nil
}
