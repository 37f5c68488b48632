package deploy

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/celeroot/celeroot/config"
)

// Strategy is how a rollout orders its hosts.
type Strategy string

// Strategies.
const (
	StrategyAll     Strategy = "all"     // every host at once (up to Options.Parallel)
	StrategyRolling Strategy = "rolling" // batches of Batch hosts, one batch after the other
	StrategyCanary  Strategy = "canary"  // the first Canary hosts, then all the others
)

// Valid reports whether s is one of the strategies.
func (s Strategy) Valid() bool {
	return s == StrategyAll || s == StrategyRolling || s == StrategyCanary
}

// DefaultParallel caps the hosts deployed at once.
const DefaultParallel = 32

// Options tune one deploy; zero values take cl.yaml's deployment settings.
type Options struct {
	Strategy Strategy // all, rolling or canary; "" = deployment.strategy
	Batch    string   // "N" hosts or "N%" of the selected hosts; "" = deployment.batch
	MaxFail  *int     // failed hosts tolerated before the rollout stops; nil = deployment.max_fail
	Canary   int      // hosts in the canary batch; 0 = deployment.canary
	Parallel int      // hosts deployed at once at most; 0 = DefaultParallel
	// RollbackOnFailure switches the hosts this rollout already updated
	// back when it stops because of failures.
	RollbackOnFailure bool
	// Repair redeploys hosts that already run the release (drift repair):
	// the whole release is sent again, not linked from the host's copy
	// (whose files may have been changed there), and the worker restarted.
	Repair bool
	// ID and Command identify the deploy in its report (and lock).
	ID      string
	Command string
}

// plan is a resolved rollout.
type plan struct {
	strategy Strategy
	batch    int
	maxFail  int
	canary   int
	parallel int
	repair   bool
}

func resolve(d config.Deployment, o Options, hosts int) (plan, error) {
	p := plan{strategy: o.Strategy, maxFail: d.MaxFail, canary: o.Canary, parallel: o.Parallel, repair: o.Repair}
	if p.strategy == "" {
		p.strategy = Strategy(d.Strategy)
	}
	if !p.strategy.Valid() {
		return p, fmt.Errorf("strategy %q: use all, rolling or canary", p.strategy)
	}
	batch := o.Batch
	if batch == "" {
		batch = d.Batch
	}
	n, err := BatchSize(batch, hosts)
	if err != nil {
		return p, err
	}
	p.batch = n
	if o.MaxFail != nil {
		p.maxFail = *o.MaxFail
	}
	if p.maxFail < 0 {
		return p, fmt.Errorf("max-fail %d: use 0 or more", p.maxFail)
	}
	if p.canary == 0 {
		p.canary = d.Canary
	}
	if p.canary < 1 {
		return p, fmt.Errorf("canary %d: use 1 or more", p.canary)
	}
	if p.parallel <= 0 {
		p.parallel = DefaultParallel
	}
	return p, nil
}

// BatchSize turns "N" or "N%" into a host count for a rollout over total
// hosts: a percentage rounds up, and a batch holds at least one host and
// at most all of them.
func BatchSize(s string, total int) (int, error) {
	s = strings.TrimSpace(s)
	pct := strings.HasSuffix(s, "%")
	n, err := strconv.Atoi(strings.TrimSuffix(s, "%"))
	if err != nil || n < 1 || pct && n > 100 {
		return 0, fmt.Errorf("batch %q: write a host count such as 2 or a percentage such as 25%%", s)
	}
	if pct {
		n = (total*n + 99) / 100
	}
	return max(1, min(n, total)), nil
}

// batches splits hosts per the strategy.
func (p plan) batches(hosts []*config.Host) [][]*config.Host {
	switch p.strategy {
	case StrategyAll:
		return [][]*config.Host{hosts}
	case StrategyCanary:
		if p.canary >= len(hosts) {
			return [][]*config.Host{hosts}
		}
		return [][]*config.Host{hosts[:p.canary], hosts[p.canary:]}
	}
	var out [][]*config.Host
	for i := 0; i < len(hosts); i += p.batch {
		out = append(out, hosts[i:min(i+p.batch, len(hosts))])
	}
	return out
}
