package reconcile

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"path"
	"sort"
	"strings"

	"github.com/celeroot/celeroot/config"
)

// File is one file of a revision's config tree: its path relative to the
// directory holding cl.yaml, and a digest of its mode and content.
type File struct {
	Path   string `json:"path"`
	Digest string `json:"digest"`
}

// Revision is the desired state at one commit: the loaded configuration
// (overlay applied) and the files of its tree.
type Revision struct {
	SHA    string
	Config *config.Config
	Files  []File
}

// hostView is what one host receives from a revision, reduced to what can
// change the host's worker: the files its role uses and a digest of the
// configuration sections its worker reads.
type hostView struct {
	files  map[string]string // path -> digest
	config string            // digest of the worker-relevant configuration
}

// viewFor returns the host's view of rev, or false when rev does not
// declare the host.
func (rev *Revision) viewFor(host string) (hostView, bool) {
	if rev == nil || rev.Config == nil {
		return hostView{}, false
	}
	h, ok := rev.Config.Hosts.Get(host)
	if !ok {
		return hostView{}, false
	}
	skip := rev.otherModules(h.Role)
	v := hostView{files: map[string]string{}, config: rev.configDigest(h)}
	cfgName := path.Base(rev.Config.Source.Path)
	for _, f := range rev.Files {
		if f.Path == cfgName || strings.HasPrefix(f.Path, "environments/") || skip(f.Path) {
			continue
		}
		v.files[f.Path] = f.Digest
	}
	return v, true
}

// otherModules reports the files of task modules that role does not load:
// tasks/<m>.yaml (or .yml) and everything under tasks/<m>/.
func (rev *Revision) otherModules(role string) func(string) bool {
	loaded := map[string]bool{}
	if w, ok := rev.Config.Workers.Get(role); ok {
		for _, m := range w.Tasks {
			loaded[m] = true
		}
	}
	return func(p string) bool {
		rest, ok := strings.CutPrefix(p, "tasks/")
		if !ok {
			return false
		}
		name, _, nested := strings.Cut(rest, "/")
		if !nested {
			name = strings.TrimSuffix(strings.TrimSuffix(name, ".yaml"), ".yml")
		}
		if _, isModule := rev.Config.Modules.Get(name); !isModule {
			return false // shared files (tasks/lib/...) reach every role
		}
		return !loaded[name]
	}
}

// configDigest hashes the configuration a host's worker reads: the cluster,
// Redis, its own entry, its role and the deployment settings. Schedules,
// other hosts and monitoring do not change what the worker does.
func (rev *Revision) configDigest(h *config.Host) string {
	c := rev.Config
	w, _ := c.Workers.Get(h.Role)
	hc := *h
	hc.AssessOnly = false // whether drift is repaired does not change the worker
	h = &hc
	b, _ := json.Marshal(struct {
		Cluster    config.Cluster    `json:"cluster"`
		Redis      config.Redis      `json:"redis"`
		Host       *config.Host      `json:"host"`
		Worker     *config.Worker    `json:"worker"`
		Deployment config.Deployment `json:"deployment"`
	}{c.Cluster, c.Redis, h, w, c.Deployment})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// changedFiles lists the paths whose digest differs between two views,
// sorted.
func changedFiles(from, to hostView) []string {
	var out []string
	for p, d := range to.files {
		if from.files[p] != d {
			out = append(out, p)
		}
	}
	for p := range from.files {
		if _, ok := to.files[p]; !ok {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// describeFiles says "3 files changed under tasks/nginx_management" or
// "tasks/a.sh changed".
func describeFiles(paths []string) string {
	switch len(paths) {
	case 0:
		return ""
	case 1:
		return paths[0] + " changed"
	}
	dir := path.Dir(paths[0])
	for _, p := range paths[1:] {
		for dir != "." && !strings.HasPrefix(p, dir+"/") {
			dir = path.Dir(dir)
		}
	}
	if dir == "." {
		return itoa(len(paths)) + " files changed"
	}
	return itoa(len(paths)) + " files changed under " + dir
}
