package deploy

import (
	"fmt"
	"strings"
)

// WorkerSpec is what the rendered worker configuration says about the
// worker of one host.
type WorkerSpec struct {
	Host    string `json:"host"`
	Role    string `json:"role"`
	Cluster string `json:"cluster"`
	Env     string `json:"env,omitempty"` // --env overlay the worker loads
}

// HostRelease is a release as one host receives it: the config tree,
// bin/cl for the host's platform and the rendered worker configuration
// (.celeroot/worker.yaml), described by one manifest.
type HostRelease struct {
	*Release
	Worker     WorkerSpec
	Binary     Binary
	Manifest   *Manifest
	workerYAML []byte
}

// ForHost assembles the host's release.
func (r *Release) ForHost(w WorkerSpec, bin Binary) (*HostRelease, error) {
	hr := &HostRelease{Release: r, Worker: w, Binary: bin, workerYAML: renderWorkerConfig(r, w)}
	entries := make([]Entry, 0, len(r.Files)+2)
	for _, f := range r.Files {
		entries = append(entries, f.Entry)
	}
	entries = append(entries,
		Entry{Path: BinaryPath, Mode: ModeExec, Size: bin.Size, SHA256: bin.SHA256},
		newFile(WorkerConfigPath, ModeFile, hr.workerYAML).Entry)
	m, err := NewManifest(r.Version, entries)
	if err != nil {
		return nil, fmt.Errorf("release %s for %s: %w", r.Short(), w.Host, err)
	}
	hr.Manifest = m
	return hr, nil
}

// renderWorkerConfig writes the worker's settings as YAML. It holds no
// version (that is the release directory's name), so it stays the same
// from release to release and is hard-linked like any unchanged file.
func renderWorkerConfig(r *Release, w WorkerSpec) []byte {
	var b strings.Builder
	b.WriteString("# Rendered by cl for this host's worker; do not edit (the next deploy replaces it).\n")
	fmt.Fprintf(&b, "host: %q\nrole: %q\ncluster: %q\n", w.Host, w.Role, w.Cluster)
	if w.Env != "" {
		fmt.Fprintf(&b, "env: %q\n", w.Env)
	}
	b.WriteString("config: cl.yaml\n")
	return []byte(b.String())
}
