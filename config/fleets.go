package config

import (
	"fmt"
	"strings"
)

// Blue-green fleets. A fleet is the set of hosts whose hosts.<name>.fleet
// names it. A configuration either has no fleets (no host sets fleet: one
// implicit fleet, exactly as before fleets existed) or every host belongs to
// one. Which fleet is active is not configuration: it is state in Redis
// (package queue), so switching needs no commit.

// HasFleets reports whether the hosts are split into fleets.
func (c *Config) HasFleets() bool {
	for _, h := range c.Hosts.Values() {
		if h.Fleet != "" {
			return true
		}
	}
	return false
}

// Fleets returns the fleet names in the order their first host appears in
// cl.yaml (empty without fleets). The first one is the active fleet until
// the first `cl cluster switch`.
func (c *Config) Fleets() []string {
	var out []string
	seen := map[string]bool{}
	for _, h := range c.Hosts.Values() {
		if h.Fleet != "" && !seen[h.Fleet] {
			seen[h.Fleet] = true
			out = append(out, h.Fleet)
		}
	}
	return out
}

// HasFleet reports whether some host belongs to fleet name.
func (c *Config) HasFleet(name string) bool {
	return len(c.FleetHosts(name)) > 0
}

// FleetHosts returns the hosts of fleet name, in cl.yaml order.
func (c *Config) FleetHosts(name string) []*Host {
	var out []*Host
	for _, h := range c.Hosts.Values() {
		if h.Fleet == name {
			out = append(out, h)
		}
	}
	return out
}

// FleetOf returns the fleet of host name ("" without fleets or for an
// unknown host).
func (c *Config) FleetOf(host string) string {
	if h, ok := c.Hosts.Get(host); ok {
		return h.Fleet
	}
	return ""
}

// UnknownFleetError is returned for a fleet no host belongs to.
func (c *Config) UnknownFleetError(name string) error {
	if !c.HasFleets() {
		return fmt.Errorf("fleet %q: this configuration has no fleets: set hosts.<name>.fleet in cl.yaml (see docs/cluster.md#blue-green-fleets)", name)
	}
	return fmt.Errorf("unknown fleet %q: fleets are %s", name, strings.Join(c.Fleets(), ", "))
}

func (c *Config) validateFleets(k checker) {
	if !c.HasFleets() {
		return
	}
	first := c.Fleets()[0]
	for _, h := range c.Hosts.Values() {
		if h.Fleet == "" {
			k.errKey("hosts."+h.Name, "add fleet: "+first+" (or another fleet): once one host names a fleet, every host must", "host %s belongs to no fleet", h.Name)
		}
	}
}

// CloneSpec says how `cl cluster create NEW --clone FROM` derives NEW's
// hosts from FROM's.
type CloneSpec struct {
	Name string // the new fleet
	From string // the fleet to clone
	// Addresses are the new hosts' addresses: "addr" taken in the order of
	// FROM's hosts, or "name=addr" for one host of the new fleet by its
	// name. Hosts without one get the rule's address (see Clone).
	Addresses []string
}

// Clone returns the hosts of a new fleet cloned from an existing one, ready
// for AddHost: each host of spec.From gives one host of spec.Name with the
// same role, connection settings and tags. The new host's name is the old
// one with the old fleet's name replaced by the new one's ("blue-web1" →
// "green-web1"), or the old name with "-<new>" appended when it does not
// contain the old fleet's name. Its address is the next one of
// spec.Addresses, the one given as name=addr, or else the old address with
// the old fleet's name replaced (DNS names like blue-web1.example.com); an
// address that does not contain it is an error naming --hosts.
func (c *Config) Clone(spec CloneSpec) ([]HostSpec, error) {
	if c.HasFleet(spec.Name) {
		return nil, fmt.Errorf("fleet %s already exists (%d hosts): pick another name, or `cl cluster destroy %s` first", spec.Name, len(c.FleetHosts(spec.Name)), spec.Name)
	}
	if !nameRE().MatchString(spec.Name) {
		return nil, fmt.Errorf("fleet name %q is not valid: use letters, digits, '.', '_' and '-'", spec.Name)
	}
	src := c.FleetHosts(spec.From)
	if len(src) == 0 {
		return nil, c.UnknownFleetError(spec.From)
	}
	var positional []string
	named := map[string]string{}
	for _, a := range spec.Addresses {
		if n, addr, ok := strings.Cut(a, "="); ok {
			named[n] = addr
		} else {
			positional = append(positional, a)
		}
	}
	if len(positional) > len(src) {
		return nil, fmt.Errorf("--hosts gives %d addresses but fleet %s has %d hosts: give one address per host", len(positional), spec.From, len(src))
	}
	out := make([]HostSpec, 0, len(src))
	for i, h := range src {
		name := renameFor(h.Name, spec.From, spec.Name)
		if _, taken := c.Hosts.Get(name); taken {
			return nil, fmt.Errorf("host %s (the clone of %s) already exists: remove it, or name the new fleet differently", name, h.Name)
		}
		addr, ok := named[name]
		delete(named, name)
		switch {
		case ok:
		case i < len(positional):
			addr = positional[i]
		case strings.Contains(h.Address, spec.From):
			addr = strings.ReplaceAll(h.Address, spec.From, spec.Name)
		default:
			return nil, fmt.Errorf("no address for %s (the clone of %s, address %s): give the new fleet's addresses with --hosts ADDR,... (in the order of %s's hosts) or --hosts %s=ADDR", name, h.Name, h.Address, spec.From, name)
		}
		out = append(out, HostSpec{Name: name, Role: h.Role, Address: addr, User: h.SSH.User, Port: h.SSH.Port,
			Key: h.SSH.Key, Jump: h.SSH.Jump, Tags: h.Tags, Fleet: spec.Name})
	}
	for n := range named {
		return nil, fmt.Errorf("--hosts %s=…: the clone of %s has no host %s", n, spec.From, n)
	}
	return out, nil
}

func renameFor(host, from, to string) string {
	if strings.Contains(host, from) {
		return strings.ReplaceAll(host, from, to)
	}
	return host + "-" + to
}
