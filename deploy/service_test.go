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

// TestUnitFileRefusesInjection: a target directory that would add
// directives to the unit (a newline) or expand specifiers (%) is refused
// where the unit is written, whatever validated the configuration.
func TestUnitFileRefusesInjection(t *testing.T) {
	for _, target := range []string{"/opt/cl\nExecStartPre=/bin/sh -c reboot", "/opt/%h", "/opt/$(reboot)", "relative", "/opt/a b"} {
		unit, err := service{name: "celeroot-worker", target: target, host: "web1", systemd: true}.unitFile()
		if err == nil {
			t.Errorf("target %q: unit written:\n%s", target, unit)
		} else if !strings.Contains(err.Error(), "deployment.target_directory") {
			t.Errorf("target %q: error %q does not name deployment.target_directory", target, err)
		}
	}
	unit, err := service{name: "celeroot-worker", target: "/opt/celeroot", host: "web1", systemd: true}.unitFile()
	if err != nil || !strings.Contains(string(unit), "\nWorkingDirectory=/opt/celeroot\n") {
		t.Fatalf("a clean target: %v\n%s", err, unit)
	}
}
