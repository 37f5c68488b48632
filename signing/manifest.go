package signing

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

// manifestHeader is the first line of a manifest: its format version.
const manifestHeader = "cl-config manifest v1"

// Entry is one file of a manifest: its slash path inside the config
// directory, its git mode (100644, 100755 or 120000 for a symbolic link)
// and the SHA-256 of its content (of the link target for a link).
type Entry struct {
	Path   string
	Mode   string
	SHA256 string
}

// Manifest is the canonical description of a config tree, sorted by path.
type Manifest []Entry

// signedRoots are what a manifest covers, relative to cl.yaml's directory.
var signedRoots = []string{"cl.yaml", "tasks", "environments"}

// BuildManifest describes cl.yaml, tasks/ and environments/ of fsys (a
// directory on disk or a commit's tree). Paths in skip (slash paths
// relative to fsys, such as the signature file) are left out.
func BuildManifest(fsys fs.FS, skip ...string) (Manifest, error) {
	var m Manifest
	for _, root := range signedRoots {
		err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if p == root && errors.Is(err, fs.ErrNotExist) && root != "cl.yaml" {
					return fs.SkipDir
				}
				return err
			}
			if d.IsDir() {
				return nil
			}
			for _, s := range skip {
				if p == s {
					return nil
				}
			}
			e, err := entryOf(fsys, p, d)
			if err != nil {
				return err
			}
			m = append(m, e)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("manifest of the configuration: %w", err)
		}
	}
	sort.Slice(m, func(i, j int) bool { return m[i].Path < m[j].Path })
	return m, nil
}

func entryOf(fsys fs.FS, p string, d fs.DirEntry) (Entry, error) {
	if d.Type()&fs.ModeSymlink != 0 {
		target, err := fs.ReadLink(fsys, p)
		if err != nil {
			return Entry{}, err
		}
		sum := sha256.Sum256([]byte(target))
		return Entry{Path: p, Mode: "120000", SHA256: hex.EncodeToString(sum[:])}, nil
	}
	if !d.Type().IsRegular() {
		return Entry{}, fmt.Errorf("%s is neither a file nor a symbolic link: remove it from the config directory", p)
	}
	info, err := d.Info()
	if err != nil {
		return Entry{}, err
	}
	data, err := fs.ReadFile(fsys, p)
	if err != nil {
		return Entry{}, err
	}
	mode := "100644"
	if info.Mode().Perm()&0o111 != 0 {
		mode = "100755"
	}
	sum := sha256.Sum256(data)
	return Entry{Path: p, Mode: mode, SHA256: hex.EncodeToString(sum[:])}, nil
}

// Bytes is the signed message: the header, then one line per file
// ("<mode> <sha256> <path>"), each ending in a newline.
func (m Manifest) Bytes() []byte {
	var b bytes.Buffer
	b.WriteString(manifestHeader + "\n")
	for _, e := range m {
		fmt.Fprintf(&b, "%s %s %s\n", e.Mode, e.SHA256, e.Path)
	}
	return b.Bytes()
}

// ParseManifest reads what Bytes wrote.
func ParseManifest(data []byte) (Manifest, error) {
	lines := strings.Split(string(data), "\n")
	if len(lines) == 0 || lines[0] != manifestHeader {
		return nil, fmt.Errorf("the manifest does not start with %q", manifestHeader)
	}
	var m Manifest
	for i, l := range lines[1:] {
		if l == "" {
			continue
		}
		f := strings.SplitN(l, " ", 3)
		if len(f) != 3 || len(f[1]) != 64 {
			return nil, fmt.Errorf("manifest line %d is not \"<mode> <sha256> <path>\"", i+2)
		}
		m = append(m, Entry{Mode: f[0], SHA256: f[1], Path: f[2]})
	}
	return m, nil
}

// Diff names the files that differ from old to m: changed, added (in m
// only) and removed (in old only), each sorted.
func (m Manifest) Diff(old Manifest) (changed, added, removed []string) {
	was := map[string]Entry{}
	for _, e := range old {
		was[e.Path] = e
	}
	for _, e := range m {
		o, ok := was[e.Path]
		switch {
		case !ok:
			added = append(added, e.Path)
		case o != e:
			changed = append(changed, e.Path)
		}
		delete(was, e.Path)
	}
	for p := range was {
		removed = append(removed, p)
	}
	sort.Strings(removed)
	return changed, added, removed
}
