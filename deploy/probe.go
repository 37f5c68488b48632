package deploy

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"

	"github.com/celeroot/celeroot/hostexec"
)

// probeResult is what one probe of a host found.
type probeResult struct {
	OS, Machine, Arch string
	Systemd           bool
	Gzip, SHA256      bool
	// Current is the release `current` points to ("" when none).
	Current string
	// Present is the sha256 of the manifest of releases/<version> when
	// that release is already on the host.
	Present string
	// Unit is the sha256 of the installed systemd unit, when there is one;
	// Enabled says it is enabled. StateOK: the supervisor's state
	// directory exists and is writable (hosts without systemd).
	Unit    string
	Enabled bool
	StateOK bool
	// Helper: the host's own cl answered (HostLib), not the shell library.
	Helper bool
	// Manifest is the current release's manifest (nil when there is none
	// or it cannot be read).
	Manifest *Manifest
}

// probeOf parses what the probe printed on a host.
func (r *remote) probeOf(out []byte) (probeResult, error) {
	p, err := parseProbe(out)
	if err != nil {
		return p, fmt.Errorf("probe %s: %w", r.name, err)
	}
	if p.OS != "Linux" {
		return p, fmt.Errorf("probe %s: %w (uname -s says %q)", r.name, errNotLinux, p.OS)
	}
	return p, nil
}

func parseProbe(out []byte) (probeResult, error) {
	var p probeResult
	head, manifest, found := bytes.Cut(out, []byte("@@manifest\n"))
	if !found {
		return p, fmt.Errorf("unexpected output %.200q", out)
	}
	sc := bufio.NewScanner(bytes.NewReader(head))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		switch k {
		case "os":
			p.OS = v
		case "machine":
			p.Machine, p.Arch = v, hostexec.NormalizeArch(v)
		case "systemd":
			p.Systemd = v == "1"
		case "have_gzip":
			p.Gzip = true
		case "have_sha256sum":
			p.SHA256 = true
		case "current":
			p.Current = v
		case "present":
			p.Present = v
		case "unit":
			p.Unit = v
		case "enabled":
			p.Enabled = true
		case "state_ok":
			p.StateOK = true
		case "helper":
			p.Helper = v == "cl"
		}
	}
	if len(bytes.TrimSpace(manifest)) > 0 {
		// A manifest that does not parse is no base: everything is sent.
		if m, err := ParseManifest(manifest); err == nil && m.Version == p.Current {
			p.Manifest = m
		}
	}
	return p, nil
}
