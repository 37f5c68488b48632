package discover

import (
	"fmt"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/hostexec"
)

// LoginWith targets a scanned address with the configuration's SSH
// defaults (ssh.default_user, ssh.default_key, ssh.become).
func LoginWith(cfg *config.Config) func(addr string, port int) hostexec.Target {
	return func(addr string, port int) hostexec.Target {
		t := hostexec.Target{Name: addr, Address: addr, Port: port, User: cfg.SSH.DefaultUser, Become: cfg.SSH.Become}
		if cfg.SSH.DefaultKey != "" {
			t.KeyFiles = []string{config.ExpandHome(cfg.SSH.DefaultKey)}
		}
		return t
	}
}

// MarkKnown sets Known on the candidates whose address and port a host of
// cfg already uses.
func MarkKnown(cfg *config.Config, cands []Candidate) {
	for i := range cands {
		for _, h := range cfg.Hosts.Values() {
			cn := cfg.ConnFor(h)
			if cn.Address == cands[i].Address && cn.Port == cands[i].Port {
				cands[i].Known = h.Name
			}
		}
	}
}

// Addable returns the candidates worth adding: compatible and not yet in
// cl.yaml (MarkKnown first).
func Addable(cands []Candidate) []Candidate {
	var out []Candidate
	for _, c := range cands {
		if c.Compatible && c.Known == "" {
			out = append(out, c)
		}
	}
	return out
}

// UniqueName is base, or base-2, base-3, … when taken.
func UniqueName(base string, taken map[string]bool) string {
	name := base
	for i := 2; taken[name]; i++ {
		name = fmt.Sprintf("%s-%d", base, i)
	}
	return name
}

// Spec is the registration of candidate c as host name of role: its
// address, and its port when it is not ssh.default_port.
func Spec(cfg *config.Config, c Candidate, name, role string) config.HostSpec {
	spec := config.HostSpec{Name: name, Role: role, Address: c.Address}
	if c.Port != cfg.SSH.DefaultPort {
		spec.Port = c.Port
	}
	return spec
}
