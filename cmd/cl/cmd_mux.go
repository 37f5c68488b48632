package main

import (
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/hostexec"
)

// MuxCmd is `cl mux`: the background process that keeps SSH connections
// open between cl commands (ssh.persist).
type MuxCmd struct {
	Status MuxStatusCmd `cmd:"" help:"List the SSH connections this user's mux keeps open (exit 3 when no mux runs)."`
	Stop   MuxStopCmd   `cmd:"" help:"Stop the mux and close its connections."`
	Serve  MuxServeCmd  `cmd:"" hidden:"" help:"Run the mux (started by cl itself)."`
}

// MuxServeCmd is `cl mux serve`, started detached by the first cl command
// that needs a host while none runs.
type MuxServeCmd struct {
	Socket string        `name:"socket" required:"" placeholder:"PATH" help:"Unix socket to serve."`
	Idle   time.Duration `name:"idle" default:"60s" help:"Exit after this long without clients or connections."`
}

// Run serves until idle or stopped.
func (c *MuxServeCmd) Run(a *App) error {
	return hostexec.ServeMux(a.Ctx, c.Socket, c.Idle, a.Log)
}

// MuxStatusCmd is `cl mux status`.
type MuxStatusCmd struct{}

// Run lists the mux's connections.
func (MuxStatusCmd) Run(a *App) error {
	sock, err := hostexec.MuxSocket()
	if err != nil {
		return err
	}
	conns, err := hostexec.MuxControl(a.Ctx, sock, "status")
	if err != nil {
		if a.JSON() {
			_ = a.PrintJSON(map[string]any{"running": false, "socket": sock})
		} else {
			fmt.Fprintf(a.Stdout, "no mux runs for this build (socket %s)\n", sock)
		}
		return silentExit(3)
	}
	sort.Slice(conns, func(i, j int) bool { return conns[i].Target < conns[j].Target })
	if a.JSON() {
		return a.PrintJSON(map[string]any{"running": true, "socket": sock, "conns": conns})
	}
	fmt.Fprintf(a.Stdout, "mux %s: %d connections\n", sock, len(conns))
	now := time.Now()
	for _, c := range conns {
		fmt.Fprintf(a.Stdout, "  %s  up %s, idle %s, %d clients\n", c.Target,
			now.Sub(c.Since).Round(time.Second), now.Sub(c.LastUsed).Round(time.Second), c.Clients)
	}
	return nil
}

// MuxStopCmd is `cl mux stop`.
type MuxStopCmd struct{}

// Run stops the mux; no mux running is not an error.
func (MuxStopCmd) Run(a *App) error {
	sock, err := hostexec.MuxSocket()
	if err != nil {
		return err
	}
	if _, err := hostexec.MuxControl(a.Ctx, sock, "stop"); err != nil {
		fmt.Fprintln(a.Stdout, "no mux runs")
		return nil
	}
	fmt.Fprintln(a.Stdout, "mux stopped")
	return nil
}

// muxFor returns the mux options for cfg's ssh.persist; nil when it is 0
// or this user has no usable socket directory (then cl dials directly).
func muxFor(a *App, cfg *config.Config) *hostexec.Mux {
	persist := cfg.SSH.Persist.D()
	if persist <= 0 {
		return nil
	}
	sock, err := hostexec.MuxSocket()
	if err != nil {
		a.Log.Debug("ssh mux not used", "err", err)
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil
	}
	return &hostexec.Mux{
		Socket:  sock,
		Persist: persist,
		Command: []string{exe, "mux", "serve", "--socket", sock, "--idle", persist.String()},
	}
}
