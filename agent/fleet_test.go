package agent

import (
	"testing"

	"github.com/celeroot/celeroot/config"
)

// TestConnectionKey: the fleet keeps its SSH connections across commits
// that change neither the ssh section nor any host's address, connection
// or ssh settings, and redials when one of those changes.
func TestConnectionKey(t *testing.T) {
	load := func() *config.Config {
		cfg, _, err := config.LoadValid(config.Options{Path: "../examples/fleet/cl.yaml", Env: "dev"})
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	a, b := load(), load()
	if connectionKey(a) != connectionKey(b) {
		t.Fatal("two loads of one configuration differ")
	}
	w, _ := b.Workers.Get("webserver")
	w.Concurrency++
	h, _ := b.Hosts.Get("webserver01")
	h.Tags = map[string]string{"changed": "yes"}
	h.Role = "database"
	if connectionKey(a) != connectionKey(b) {
		t.Error("a role, tag or worker change redials the hosts")
	}
	for name, change := range map[string]func(c *config.Config){
		"address": func(c *config.Config) { h, _ := c.Hosts.Get("webserver01"); h.Address = "127.0.0.99" },
		"port":    func(c *config.Config) { h, _ := c.Hosts.Get("webserver01"); h.SSH.Port = 2200 },
		"user":    func(c *config.Config) { c.SSH.DefaultUser = "someone-else" },
		"policy":  func(c *config.Config) { c.SSH.HostKeyPolicy = "accept-new" },
	} {
		c := load()
		change(c)
		if connectionKey(a) == connectionKey(c) {
			t.Errorf("a changed %s keeps the old connections", name)
		}
	}
}
