package main

import (
	"fmt"
	"strings"

	"github.com/celeroot/celeroot/discover"
)

// printCandidates prints `cl host discover`'s table of SSH servers found.
func printCandidates(a *App, cands []discover.Candidate) {
	t := newTable(a.Stdout, "ADDRESS", "HOSTNAME", "OS", "ARCH", "LOGIN", "COMPATIBLE", "SUGGESTED", "IN_CL.YAML")
	for _, c := range cands {
		hostname, osName, arch, login, compat := "-", "-", "-", "ok", "yes"
		if c.Facts != nil {
			hostname, osName, arch = c.Facts.Hostname, c.Facts.OSName, c.Facts.Arch
		}
		if !c.LoggedIn {
			login, compat = "failed: "+c.Reason, "unknown"
		} else if !c.Compatible {
			compat = "no: " + strings.Join(c.Why, "; ")
		}
		t.row(c.Address, hostname, osName, arch, login, compat, orDashStr(c.Suggested), orDashStr(c.Known))
	}
	t.flush()
	fmt.Fprintf(a.Stdout, "%d SSH servers found\n", len(cands))
	for _, c := range cands {
		if c.Reason == "host key unknown" {
			fmt.Fprintln(a.Stdout, "some host keys are unknown: verify them, then rerun with --accept-new to record them")
			break
		}
	}
}
