package dispatch

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/queue"
)

// Request asks for a task on a selection of hosts.
type Request struct {
	Task   string
	Params map[string]any // raw values (strings from a command line are fine): converted by the task's declared types
	Select config.Selector
	// Any puts one run on the role queue of the selected role (any of its
	// workers takes it) instead of one run per host; Select must name a
	// role and nothing else.
	Any bool
}

// Submission is one run of a request: planned by Plan, then enqueued (ID
// and State set).
type Submission struct {
	ID     string         `json:"id"`
	Task   string         `json:"task"`
	Module string         `json:"module"`
	Host   string         `json:"host,omitempty"` // empty for a run on a role queue
	Role   string         `json:"role"`
	Queue  string         `json:"queue"`
	Params map[string]any `json:"params,omitempty"`
	State  queue.State    `json:"state"`

	Timeout    time.Duration `json:"-"` // enforced by the worker
	MaxRetries int           `json:"-"`
}

// Label names the submission in log prefixes and summaries: its host, or
// its queue for a run on a role queue.
func (s *Submission) Label() string {
	if s.Host != "" {
		return s.Host
	}
	return s.Queue
}

// Run is the queue run of the submission.
func (s *Submission) Run() *queue.Run {
	return &queue.Run{Task: s.Task, Module: s.Module, Params: s.Params, Target: s.Queue,
		Timeout: s.Timeout, MaxRetries: s.MaxRetries}
}

// ErrNoHost is returned by Plan when the selection matches no host.
var ErrNoHost = errors.New("no host matches the selection (see `cl host list`)")

// RoleError says why the hosts of one role cannot run the request; Err is
// Resolve's error.
type RoleError struct {
	Task  string
	Role  string
	Hosts []string // the selected hosts of the role
	Err   error
}

func (e *RoleError) Error() string {
	return fmt.Sprintf("task %s on role %s (%s): %v", e.Task, e.Role, briefList(e.Hosts), e.Err)
}

func (e *RoleError) Unwrap() error { return e.Err }

// Plan resolves the request for the role of every selected host and returns
// its runs, in host order: one per host, or one per role with Any. Nothing is
// enqueued; any problem fails the whole plan.
func Plan(cfg *config.Config, req Request) ([]*Submission, error) {
	if req.Any && (req.Select.Role == "" || len(req.Select.Hosts) > 0 || len(req.Select.Tags) > 0 || req.Select.All) {
		return nil, errors.New("a run on a role's queue needs a selection by role only (--any with --role ROLE)")
	}
	hosts, err := cfg.Select(req.Select)
	if err != nil {
		return nil, err
	}
	if len(hosts) == 0 {
		return nil, ErrNoHost
	}
	specs := map[string]*Spec{}
	var subs []*Submission
	for _, h := range hosts {
		sp, ok := specs[h.Role]
		if !ok {
			if sp, err = Resolve(cfg, h.Role, req.Task, req.Params); err != nil {
				return nil, &RoleError{Task: req.Task, Role: h.Role, Hosts: roleHosts(hosts, h.Role), Err: err}
			}
			specs[h.Role] = sp
		} else if req.Any {
			continue
		}
		s := &Submission{Task: sp.Task, Module: sp.Module, Role: h.Role, Params: sp.Params,
			Timeout: sp.Timeout, MaxRetries: sp.MaxRetries, Queue: queue.FleetQueue(sp.RoleQueue, req.Select.Fleet)}
		if !req.Any {
			s.Host, s.Queue = h.Name, queue.HostQueue(h.Name)
		}
		subs = append(subs, s)
	}
	return subs, nil
}

func roleHosts(hosts []*config.Host, role string) []string {
	var names []string
	for _, h := range hosts {
		if h.Role == role {
			names = append(names, h.Name)
		}
	}
	return names
}

// briefList names up to three items, then the count.
func briefList(names []string) string {
	if len(names) > 3 {
		return fmt.Sprintf("%s, … %d hosts", strings.Join(names[:3], ", "), len(names))
	}
	return strings.Join(names, ", ")
}
