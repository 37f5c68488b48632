package deploy

import (
	"context"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/drift"
)

// CheckResult compares one host with the wanted release.
type CheckResult struct {
	Host    string `json:"host"`
	Address string `json:"address"`
	Want    string `json:"want"`
	// Current is the release `current` points to ("" none); Worker the
	// release the worker's heartbeat reports ("" none alive, "?" no
	// heartbeat source).
	Current   string `json:"current"`
	Worker    string `json:"worker"`
	UpToDate  bool   `json:"up_to_date"`
	Reachable bool   `json:"reachable"`
	Error     string `json:"error,omitempty"`
}

// Check reads, without changing anything, which release each host has
// current and which one its worker reports (drift.Observe), and compares
// them with want.
func (e *Engine) Check(ctx context.Context, want string, hosts []*config.Host, parallel int) []CheckResult {
	if parallel <= 0 {
		parallel = DefaultParallel
	}
	obs := drift.Observe(ctx, e.Hosts, hosts, drift.ObserveOptions{TargetDir: e.Config.Deployment.TargetDirectory,
		Heartbeats: e.Heartbeats, Parallel: parallel, SkipReleaseList: true, Timeout: e.Config.SSH.Timeout.D() + stepTimeout})
	out := make([]CheckResult, len(obs))
	for i, o := range obs {
		out[i] = checkResult(want, o)
	}
	return out
}

func checkResult(want string, o drift.Observation) CheckResult {
	return CheckResult{Host: o.Host, Address: o.Address, Want: want, Current: o.Current, Worker: o.Worker,
		Reachable: o.Reachable, Error: o.Error,
		UpToDate: o.Reachable && o.Current == want && (o.Worker == want || o.Worker == drift.WorkerNoSource)}
}

// CheckCounts counts the hosts of a Check that differ from the wanted
// release and those that could not be reached.
func CheckCounts(res []CheckResult) (differ, down int) {
	for _, r := range res {
		switch {
		case !r.Reachable:
			down++
		case !r.UpToDate:
			differ++
		}
	}
	return differ, down
}

// Status is the host's verdict in one word: "unreachable", "differs" or
// "up to date".
func (r CheckResult) Status() string {
	switch {
	case !r.Reachable:
		return "unreachable"
	case !r.UpToDate:
		return "differs"
	}
	return "up to date"
}
