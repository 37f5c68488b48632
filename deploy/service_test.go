package deploy

import (
	"strings"
	"testing"
)

// TestUnitNoStartLimit: the unit keeps restarting a crashing worker, as
// the supervisor does; systemd's default start limit (5 starts in 10 s)
// would leave it failed after a few crashes (seen on a real systemd in
// e2e TestDeploySystemd).
func TestUnitNoStartLimit(t *testing.T) {
	unit := string(service{name: "celeroot-worker", target: "/opt/celeroot", host: "web1", systemd: true}.unit())
	unitSection, _, _ := strings.Cut(unit, "[Service]")
	if !strings.Contains(unitSection, "\nStartLimitIntervalSec=0\n") {
		t.Errorf("the [Unit] section lacks StartLimitIntervalSec=0:\n%s", unit)
	}
	if !strings.Contains(unit, "\nRestart=always\nRestartSec=2\n") {
		t.Errorf("unit lacks Restart=always, RestartSec=2:\n%s", unit)
	}
}
