package deploy

import (
	"bytes"
	"context"
	"strings"
	"sync"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/hostexec"
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
// current and which one its worker reports, and compares them with want.
func (e *Engine) Check(ctx context.Context, want string, hosts []*config.Host, parallel int) []CheckResult {
	if parallel <= 0 {
		parallel = DefaultParallel
	}
	out := make([]CheckResult, len(hosts))
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i] = e.checkHost(ctx, want, h)
		}()
	}
	wg.Wait()
	return out
}

func (e *Engine) checkHost(ctx context.Context, want string, h *config.Host) CheckResult {
	res := CheckResult{Host: h.Name, Address: h.Address, Want: want, Worker: "?"}
	if e.Heartbeats != nil {
		res.Worker = ""
		if hb, ok, err := e.Heartbeats.Worker(ctx, h.Name); err == nil && ok {
			res.Worker = hb.SHA
		}
	}
	ctx, cancel := context.WithTimeout(ctx, e.Config.SSH.Timeout.D()+stepTimeout)
	defer cancel()
	host, err := e.Hosts.Open(ctx, h)
	if err == nil {
		var out bytes.Buffer
		var r hostexec.Result
		r, err = host.Run(ctx, hostexec.Command{Argv: []string{"/bin/sh", "-c", `readlink "$1/current" || :`, "sh", e.Config.Deployment.TargetDirectory}, Stdout: &out})
		if err == nil && r.OK() {
			res.Reachable = true
			res.Current = strings.TrimPrefix(strings.TrimSpace(out.String()), "releases/")
		}
	}
	if err != nil {
		res.Error = err.Error()
	}
	res.UpToDate = res.Reachable && res.Current == want && (res.Worker == want || res.Worker == "?")
	return res
}
