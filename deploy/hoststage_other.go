//go:build !linux

package deploy

import (
	"fmt"
	"io"
	"runtime"
)

// HostLib is the deploy's own step on a fleet host, which runs Linux (see
// hoststage.go); on other systems it says so and fails, and deploys use
// the shell library there.
func HostLib(args []string, _ io.Reader, _, stderr io.Writer) int {
	fmt.Fprintf(stderr, "cl-host: the host library runs on Linux hosts, not %s\n", runtime.GOOS)
	return 1
}
