// Command cl runs fleets of plain Linux hosts by GitOps. See README.md.
package main

import (
	"os"

	_ "time/tzdata" // schedules name IANA zones; do not depend on the host's zoneinfo

	"github.com/celeroot/celeroot/deploy"
)

func main() {
	// `cl hostlib` is the deploy's own step on a fleet host (deploy.HostLib,
	// started by the deploying cl over SSH, never by people): it skips the
	// command-line parser, whose setup would be most of its cost.
	if len(os.Args) > 1 && os.Args[1] == "hostlib" {
		os.Exit(deploy.HostLib(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
