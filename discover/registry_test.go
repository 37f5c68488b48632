package discover

import (
	"testing"

	"github.com/celeroot/celeroot/config"
)

func TestRegistryHelpers(t *testing.T) {
	cfg, _, err := config.LoadValid(config.Options{Path: "../examples/fleet/cl.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	h := cfg.Hosts.Values()[0]
	cn := cfg.ConnFor(h)
	cands := []Candidate{
		{Address: cn.Address, Port: cn.Port, Compatible: true},
		{Address: "192.0.2.77", Port: cfg.SSH.DefaultPort, Compatible: true},
		{Address: "192.0.2.78", Port: 2222, Compatible: true},
		{Address: "192.0.2.79", Port: 22},
	}
	MarkKnown(cfg, cands)
	if cands[0].Known != h.Name || cands[1].Known != "" {
		t.Errorf("known: %q %q", cands[0].Known, cands[1].Known)
	}
	add := Addable(cands)
	if len(add) != 2 || add[0].Address != "192.0.2.77" || add[1].Address != "192.0.2.78" {
		t.Errorf("addable: %+v", add)
	}
	if s := Spec(cfg, add[0], "n1", "web"); s.Port != 0 || s.Address != "192.0.2.77" || s.Name != "n1" || s.Role != "web" {
		t.Errorf("spec on the default port: %+v", s)
	}
	if s := Spec(cfg, add[1], "n2", "web"); s.Port != 2222 {
		t.Errorf("spec on another port: %+v", s)
	}
	taken := map[string]bool{"web": true, "web-2": true}
	if n := UniqueName("web", taken); n != "web-3" {
		t.Errorf("unique name %q", n)
	}
	if n := UniqueName("db", taken); n != "db" {
		t.Errorf("unique name %q", n)
	}
	tg := LoginWith(cfg)("192.0.2.77", 22)
	if tg.Address != "192.0.2.77" || tg.Port != 22 || tg.User != cfg.SSH.DefaultUser {
		t.Errorf("login target %+v", tg)
	}
}
