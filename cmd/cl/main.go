// Command cl runs fleets of plain Linux hosts by GitOps. See README.md.
package main

import (
	"os"

	_ "time/tzdata" // schedules name IANA zones; do not depend on the host's zoneinfo
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
