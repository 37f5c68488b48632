package main

import (
	"fmt"
	"time"

	"github.com/celeroot/celeroot/drift"
)

// HostStatusCmd is `cl host status`.
type HostStatusCmd struct {
	selectFlags
	Concurrency int `default:"64" help:"Hosts probed at once."`
}

// Run probes the selected hosts and prints a table.
func (c *HostStatusCmd) Run(a *App) error {
	cfg, hosts, err := selectHosts(a, c.selectFlags, true)
	if err != nil {
		return err
	}
	conn, err := newConnector(a, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	progress := newProgress(a, "probing")
	obs := drift.Observe(a.Ctx, conn, hosts, drift.ObserveOptions{
		TargetDir:   cfg.Deployment.TargetDirectory,
		Facts:       true,
		SkipRelease: true, // the table shows facts only
		Timeout:     cfg.SSH.Timeout.D() + 5*time.Second,
		Parallel:    c.Concurrency,
		Progress: func(done, total int, o drift.Observation) {
			progress.update(done, total, o.Host)
		},
	})
	progress.done()
	statuses := make([]drift.HostStatus, len(obs))
	failed := 0
	for i, o := range obs {
		statuses[i] = o.Status()
		if !o.Reachable {
			failed++
		}
	}
	if a.JSON() {
		if err := a.PrintJSON(statuses); err != nil {
			return err
		}
	} else {
		printStatusTable(a, statuses)
		fmt.Fprintf(a.Stdout, "%d of %s reachable\n", len(statuses)-failed, plural(len(statuses), "host"))
	}
	if failed > 0 {
		return silentExit(ExitError)
	}
	return nil
}

func printStatusTable(a *App, statuses []drift.HostStatus) {
	t := newTable(a.Stdout, "HOST", "ADDRESS", "STATUS", "LATENCY", "HOST_KEY", "OS", "KERNEL", "ARCH", "CPUS", "MEMORY", "DISK_FREE", "CLOCK_SKEW")
	for _, st := range statuses {
		if !st.Reachable {
			t.row(st.Name, st.Address, "DOWN: "+st.Reason, ms(st.Latency), st.HostKey, "-", "-", "-", "-", "-", "-", "-")
			continue
		}
		f := st.Facts
		t.row(st.Name, st.Address, "ok", ms(st.Latency), st.HostKey, orDashStr(f.OSName), orDashStr(f.Kernel), orDashStr(f.Arch),
			f.CPUs, bytesIEC(f.MemTotalBytes), bytesIEC(f.DiskFreeBytes), f.ClockSkew.Round(time.Millisecond))
	}
	t.flush()
	for _, st := range statuses {
		if !st.Reachable {
			fmt.Fprintf(a.Stdout, "%s: %s\n", st.Name, st.Error)
		}
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%dms", d.Milliseconds()) }

func bytesIEC(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
