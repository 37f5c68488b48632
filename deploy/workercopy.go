package deploy

import (
	"fmt"
	"path"
	"strings"

	"github.com/celeroot/celeroot/config"
)

// What a host gets of the configuration: cl.yaml and the
// environments/*.yaml overlays as config.WorkerCopy leaves them (no
// credentials, no sections a worker does not read), and the one secret
// the worker needs, its Redis URL, in .celeroot/credentials. Every file of
// a release is readable by its owner only on the host (see hostlib.sh).

// CredentialsPath is where a release keeps its worker's credentials.
const CredentialsPath = config.CredentialsPath

// configFile is the path of cl.yaml in a release.
const configFile = "cl.yaml"

// isConfigFile reports whether a release path holds configuration that
// WorkerCopy must clean: cl.yaml and the overlays.
func isConfigFile(p string) bool {
	return p == configFile || (path.Dir(p) == "environments" && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")))
}

// resolve follows symbolic links inside the release from p to a regular
// file (up to 8 links); ok is false when there is none.
func (r *Release) resolve(p string) (File, bool) {
	for range 8 {
		f, ok := r.Lookup(p)
		if !ok || !f.Mode.IsSymlink() {
			return f, ok
		}
		p = path.Join(path.Dir(p), f.Target)
	}
	return File{}, false
}

// workerFiles returns the release's files as hosts get them: the
// configuration files (and the files their links point to) replaced by
// their worker copies.
func (r *Release) workerFiles() ([]File, error) {
	clean := map[string]bool{}
	for _, f := range r.Files {
		if !isConfigFile(f.Path) {
			continue
		}
		if t, ok := r.resolve(f.Path); ok {
			clean[t.Path] = true
		}
	}
	files := make([]File, len(r.Files))
	for i, f := range r.Files {
		files[i] = f
		if !clean[f.Path] {
			continue
		}
		data, err := config.WorkerCopy(f.Data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Path, err)
		}
		files[i] = newFile(f.Path, f.Mode, data)
	}
	return files, nil
}

// workerCredentials renders .celeroot/credentials for a worker loading the
// release's cl.yaml with the overlay env ("" for none).
func (r *Release) workerCredentials(env string) ([]byte, error) {
	var data, overlay []byte
	if f, ok := r.resolve(configFile); ok {
		data = f.Data
	}
	if env != "" {
		if f, ok := r.resolve("environments/" + env + ".yaml"); ok {
			overlay = f.Data
		}
	}
	url, err := config.WorkerRedisURL(data, overlay)
	if err != nil {
		return nil, err
	}
	return config.WorkerCredentials{Env: env, RedisURL: url}.Encode(), nil
}
