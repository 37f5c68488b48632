package deploy

import (
	"fmt"
	"sort"
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

// HostRelease is a release as one host receives it: the config tree
// (its configuration files without credentials, see workerFiles), bin/cl
// for the host's platform, the rendered worker configuration
// (.celeroot/worker.yaml) and the worker's credentials
// (.celeroot/credentials), described by one manifest.
type HostRelease struct {
	*Release
	Worker      WorkerSpec
	Binary      Binary
	Manifest    *Manifest
	files       []File // the tree as shipped, sorted by path
	workerYAML  []byte
	credentials []byte
}

// ForHost assembles the host's release.
func (r *Release) ForHost(w WorkerSpec, bin Binary) (*HostRelease, error) {
	fail := func(err error) (*HostRelease, error) {
		return nil, fmt.Errorf("release %s for %s: %w", r.Short(), w.Host, err)
	}
	files, err := r.workerFiles()
	if err != nil {
		return fail(fmt.Errorf("%w (cl removes credentials from the copy hosts get)", err))
	}
	creds, err := r.workerCredentials(w.Env)
	if err != nil {
		return fail(fmt.Errorf("the worker's redis.url: %w", err))
	}
	hr := &HostRelease{Release: r, Worker: w, Binary: bin, files: files, workerYAML: renderWorkerConfig(r, w), credentials: creds}
	entries := make([]Entry, 0, len(files)+3)
	for _, f := range files {
		entries = append(entries, f.Entry)
	}
	entries = append(entries,
		Entry{Path: BinaryPath, Mode: ModeExec, Size: bin.Size, SHA256: bin.SHA256},
		newFile(WorkerConfigPath, ModeFile, hr.workerYAML).Entry,
		newFile(CredentialsPath, ModeFile, hr.credentials).Entry)
	m, err := NewManifest(r.Version, entries)
	if err != nil {
		return fail(err)
	}
	hr.Manifest = m
	return hr, nil
}

// file returns the file at path as the host gets it.
func (hr *HostRelease) file(path string) (File, bool) {
	i := sort.Search(len(hr.files), func(i int) bool { return hr.files[i].Path >= path })
	if i < len(hr.files) && hr.files[i].Path == path {
		return hr.files[i], true
	}
	return File{}, false
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
	b.WriteString("credentials: " + CredentialsPath + "\n")
	return []byte(b.String())
}
