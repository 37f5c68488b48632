// Command fanout measures SSH fan-out floors for bench/fanout/run.sh:
//
//	fanout floor FLEET.json   bare x/crypto/ssh: dial + one `true` per host, all hosts at once
//	fanout warm CL.yaml       cl's probe (host status) twice in one process: cold, then over open connections
//
// It prints one line "name seconds".
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/drift"
	"github.com/celeroot/celeroot/e2e/testhost"
	"github.com/celeroot/celeroot/hostexec"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: fanout floor FLEET.json | fanout warm CL.yaml")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "floor":
		err = floor(os.Args[2])
	case "warm":
		err = warm(os.Args[2])
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fanout:", err)
		os.Exit(1)
	}
}

func floor(fleetJSON string) error {
	d, err := testhost.ReadDescription(fleetJSON)
	if err != nil {
		return err
	}
	key, err := os.ReadFile(d.KeyPath)
	if err != nil {
		return err
	}
	signer, err := ssh.ParsePrivateKey(key)
	if err != nil {
		return err
	}
	hkcb, err := knownhosts.New(d.KnownHostsPath)
	if err != nil {
		return err
	}
	cfg := &ssh.ClientConfig{User: d.User, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: hkcb, Timeout: 10 * time.Second}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, len(d.Hosts))
	for _, h := range d.Hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := ssh.Dial("tcp", net.JoinHostPort(h.Address, strconv.Itoa(h.Port)), cfg)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			s, err := c.NewSession()
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			errs <- s.Run("true")
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		if e != nil {
			return e
		}
	}
	fmt.Printf("go_floor %.3f\n", time.Since(start).Seconds())
	return nil
}

func warm(clYAML string) error {
	cfg, _, err := config.LoadValid(config.Options{Path: clYAML})
	if err != nil {
		return err
	}
	conn, err := hostexec.NewConnector(cfg, hostexec.OptionsFor(cfg, slog.New(slog.DiscardHandler)))
	if err != nil {
		return err
	}
	defer conn.Close()
	hosts := cfg.Hosts.Values()
	for _, name := range []string{"cl_probe_cold", "cl_probe_warm"} {
		start := time.Now()
		for _, st := range drift.Probe(context.Background(), conn, hosts, drift.ProbeOptions{DiskPath: "/", Timeout: 30 * time.Second}) {
			if !st.Reachable {
				return fmt.Errorf("%s: %s", st.Name, st.Error)
			}
		}
		fmt.Printf("%s %.3f\n", name, time.Since(start).Seconds())
	}
	return nil
}
