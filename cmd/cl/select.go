package main

import (
	"fmt"

	"github.com/celeroot/celeroot/config"
)

// selectFlags are the host selection flags shared by commands that act on
// hosts.
type selectFlags struct {
	Target []string `short:"t" placeholder:"HOST" help:"A host by name (repeatable)."`
	Role   string   `placeholder:"ROLE" help:"All hosts of a role."`
	Tags   []string `placeholder:"K=V" help:"Hosts with all these tags (repeatable, or k=v,k2=v2)."`
	All    bool     `help:"All hosts."`
	// Cluster is the blue-green fleet (docs/cluster.md#blue-green-fleets).
	Cluster string `placeholder:"FLEET" help:"Only the hosts of this blue-green fleet (alone: all of them); tasks without it go to the active fleet."`
}

// selector converts the flags; with none set it selects all hosts when
// defaultAll is true, and is an error otherwise.
func (f selectFlags) selector(defaultAll bool) (config.Selector, error) {
	tags, err := config.ParseTags(f.Tags)
	if err != nil {
		return config.Selector{}, err
	}
	s := config.Selector{Hosts: f.Target, Role: f.Role, Tags: tags, All: f.All, Fleet: f.Cluster}
	if s.Empty() && s.Fleet != "" {
		s.All = true // --cluster alone: the whole fleet
	}
	if s.Empty() {
		if !defaultAll {
			return s, fmt.Errorf("say which hosts: --target HOST, --role ROLE, --tags K=V or --all")
		}
		s.All = true
	}
	return s, nil
}

// selectHosts loads the config and resolves the selection.
func selectHosts(a *App, f selectFlags, defaultAll bool) (*config.Config, []*config.Host, error) {
	cfg, err := a.LoadConfig()
	if err != nil {
		return nil, nil, err
	}
	sel, err := f.selector(defaultAll)
	if err != nil {
		return nil, nil, err
	}
	hosts, err := cfg.Select(sel)
	if err != nil {
		return nil, nil, err
	}
	if len(hosts) == 0 {
		return nil, nil, fmt.Errorf("no host matches the selection (see `cl host list`)")
	}
	return cfg, hosts, nil
}
