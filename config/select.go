package config

import (
	"fmt"
	"sort"
	"strings"
)

// Selector picks hosts on the command line: --target, --role, --tags, --all.
// The zero Selector selects nothing; set All for every host.
type Selector struct {
	Hosts []string          // --target (repeatable)
	Role  string            // --role
	Tags  map[string]string // --tags k=v (all must match)
	All   bool              // --all
	// Fleet limits the selection to one blue-green fleet's hosts (empty:
	// every host; set by the CLI to --cluster or the active fleet).
	Fleet string
}

// Empty reports whether nothing was asked for.
func (s Selector) Empty() bool {
	return len(s.Hosts) == 0 && s.Role == "" && len(s.Tags) == 0 && !s.All
}

// Select returns the hosts matching s, in file order. Naming an unknown
// host or role is an error; a tag selector that matches nothing is not.
func (c *Config) Select(s Selector) ([]*Host, error) {
	for _, name := range s.Hosts {
		if _, ok := c.Hosts.Get(name); !ok {
			return nil, fmt.Errorf("no host %q in %s%s (see `cl host list`)", name, c.Source.Path, suggest(name, c.Hosts.Keys()))
		}
	}
	if s.Fleet != "" && !c.HasFleet(s.Fleet) {
		return nil, fmt.Errorf("--cluster %s: %w", s.Fleet, c.UnknownFleetError(s.Fleet))
	}
	if s.Role != "" {
		if _, ok := c.Workers.Get(s.Role); !ok {
			return nil, fmt.Errorf("no role %q in %s%s (roles: %s)", s.Role, c.Source.Path, suggest(s.Role, c.Workers.Keys()), strings.Join(c.Workers.Keys(), ", "))
		}
	}
	var out []*Host
	for _, h := range c.Hosts.Values() {
		if s.matches(h) {
			out = append(out, h)
		}
	}
	return out, nil
}

func (s Selector) matches(h *Host) bool {
	if s.Fleet != "" && h.Fleet != s.Fleet {
		return false
	}
	if s.All {
		return true
	}
	if len(s.Hosts) > 0 && !contains(s.Hosts, h.Name) {
		return false
	}
	if s.Role != "" && h.Role != s.Role {
		return false
	}
	return matchTags(h, s.Tags) && !(len(s.Hosts) == 0 && s.Role == "" && len(s.Tags) == 0)
}

func matchTags(h *Host, tags map[string]string) bool {
	for k, v := range tags {
		if h.Tags[k] != v {
			return false
		}
	}
	return true
}

// ParseTags parses k=v pairs (from --tags/--tag flags).
func ParseTags(pairs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, p := range pairs {
		for _, kv := range strings.Split(p, ",") {
			k, v, ok := strings.Cut(kv, "=")
			k = strings.TrimSpace(k)
			if !ok || k == "" {
				return nil, fmt.Errorf("tag %q: write it as key=value", kv)
			}
			if !nameRE().MatchString(k) {
				return nil, fmt.Errorf("tag name %q: use letters, digits, '.', '_' and '-'", k)
			}
			out[k] = strings.TrimSpace(v)
		}
	}
	return out, nil
}

// TargetHosts resolves schedule targets (a union) to hosts in file order.
func (c *Config) TargetHosts(targets []Target) []*Host {
	var out []*Host
	for _, h := range c.Hosts.Values() {
		for _, t := range targets {
			if t.matches(h) {
				out = append(out, h)
				break
			}
		}
	}
	return out
}

func (t Target) matches(h *Host) bool {
	switch {
	case t.Role != "":
		return h.Role == t.Role
	case len(t.Tags) > 0:
		return matchTags(h, t.Tags)
	case t.Host != "":
		return h.Name == t.Host
	case len(t.Hosts) > 0:
		return contains(t.Hosts, h.Name)
	}
	return false
}

// String renders a target the way it is written, e.g. role=webserver.
func (t Target) String() string {
	switch {
	case t.Role != "":
		return "role=" + t.Role
	case len(t.Tags) > 0:
		parts := make([]string, 0, len(t.Tags))
		for _, k := range sortedKeys(t.Tags) {
			parts = append(parts, k+"="+t.Tags[k])
		}
		return "tags(" + strings.Join(parts, ",") + ")"
	case t.Host != "":
		return "host=" + t.Host
	case len(t.Hosts) > 0:
		return "hosts=" + strings.Join(t.Hosts, ",")
	}
	return "(none)"
}

// ScheduleRoles returns the roles a schedule reaches: roles named by its
// targets and the roles of the hosts it targets.
func (c *Config) ScheduleRoles(s *Schedule) []string {
	set := map[string]bool{}
	for _, t := range s.Targets {
		if t.Role != "" {
			set[t.Role] = true
		}
	}
	for _, h := range c.TargetHosts(s.Targets) {
		set[h.Role] = true
	}
	roles := make([]string, 0, len(set))
	for r := range set {
		roles = append(roles, r)
	}
	sort.Strings(roles)
	return roles
}
