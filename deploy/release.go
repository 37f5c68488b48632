package deploy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Release is what is deployed at one version: the files of the config
// directory (the directory holding cl.yaml) at one commit of its git
// repository, or of the work tree with its uncommitted changes. Every host
// gets these files plus its own bin/cl and worker configuration (see
// HostRelease).
type Release struct {
	// Version names the release everywhere (release directories,
	// heartbeats, reports): the commit's full SHA, or
	// "<sha>-dirty-<12 hex digits of the changes' hash>" for a dirty work
	// tree.
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Dirty   bool   `json:"dirty,omitempty"`
	// Changed lists the uncommitted paths of a dirty release.
	Changed []string `json:"changed,omitempty"`
	// Subdir is the config directory's path inside the repository ("" for
	// the repository root); release paths are relative to it.
	Subdir string    `json:"subdir,omitempty"`
	Time   time.Time `json:"time"` // commit time (now for a dirty tree): the files' mtime on hosts
	Files  []File    `json:"-"`
}

// File is one file of the config tree with its content.
type File struct {
	Entry
	Data []byte
}

// newFile describes data as an entry at path.
func newFile(path string, mode Mode, data []byte) File {
	sum := sha256.Sum256(data)
	e := Entry{Path: path, Mode: mode, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
	if mode.IsSymlink() {
		e.Target = string(data)
	}
	return File{Entry: e, Data: data}
}

// checkFiles sorts files and refuses unsafe or reserved paths and links.
func checkFiles(files []File) error {
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	for i, f := range files {
		if err := checkTreePath(f.Path); err != nil {
			return err
		}
		if f.Mode.IsSymlink() {
			if err := CheckSymlink(f.Path, f.Target); err != nil {
				return err
			}
		}
		if i > 0 && files[i-1].Path == f.Path {
			return fmt.Errorf("release: %s appears twice", f.Path)
		}
	}
	return nil
}

// Short is the version cut to 12 characters (dirty suffix kept), for
// display.
func (r *Release) Short() string { return ShortVersion(r.Version) }

// ShortVersion cuts a version to its first 12 hex digits, keeping a
// -dirty-… suffix.
func ShortVersion(v string) string {
	sha, dirty, ok := strings.Cut(v, "-dirty-")
	if len(sha) > 12 {
		sha = sha[:12]
	}
	if ok {
		return sha + "-dirty-" + dirty
	}
	return sha
}

// Lookup returns the file at path.
func (r *Release) Lookup(path string) (File, bool) {
	i := sort.Search(len(r.Files), func(i int) bool { return r.Files[i].Path >= path })
	if i < len(r.Files) && r.Files[i].Path == path {
		return r.Files[i], true
	}
	return File{}, false
}
