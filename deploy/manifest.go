package deploy

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

// Mode is a file's type and permissions as git writes them: 100644 for a
// regular file, 100755 for an executable, 120000 for a symbolic link.
type Mode uint32

// The modes a release holds.
const (
	ModeFile    Mode = 0o100644
	ModeExec    Mode = 0o100755
	ModeSymlink Mode = 0o120000
)

// IsSymlink reports whether the entry is a symbolic link.
func (m Mode) IsSymlink() bool { return m == ModeSymlink }

// Perm returns the permission bits a regular file gets on the host: its
// owner's only (a release holds the worker's credentials; see the file
// modes in docs/deploy.md). The manifest keeps git's modes, which say
// executable or not.
func (m Mode) Perm() fs.FileMode {
	if m == ModeExec {
		return 0o700
	}
	return 0o600
}

func (m Mode) String() string { return strconv.FormatUint(uint64(m), 8) }

func parseMode(s string) (Mode, error) {
	n, err := strconv.ParseUint(s, 8, 32)
	switch m := Mode(n); {
	case err != nil:
		return 0, fmt.Errorf("mode %q is not octal", s)
	case m != ModeFile && m != ModeExec && m != ModeSymlink:
		return 0, fmt.Errorf("mode %s is not 100644, 100755 or 120000", s)
	default:
		return m, nil
	}
}

// Entry is one file of a release. For a symbolic link, Target is the link
// text and Size and SHA256 describe it.
type Entry struct {
	Path   string `json:"path"`
	Mode   Mode   `json:"mode"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	Target string `json:"target,omitempty"`
}

// Same reports whether two entries have the same content, type and mode,
// so that one can be hard-linked in place of the other.
func (e Entry) Same(o Entry) bool {
	return e.Mode == o.Mode && e.SHA256 == o.SHA256 && e.Size == o.Size && e.Target == o.Target
}

// line renders the entry as one manifest line. Paths never hold tabs or
// newlines (CheckPath refuses control characters), so the line splits
// unambiguously; the path goes first so that sorting whole lines bytewise
// (LC_ALL=C sort on the host) sorts by path.
func (e Entry) line() string {
	s := e.Path + "\t" + e.Mode.String() + "\t" + strconv.FormatInt(e.Size, 10) + "\t" + e.SHA256
	if e.Mode.IsSymlink() {
		s += "\t" + e.Target
	}
	return s
}

// ManifestPath is where a release keeps its manifest, relative to the
// release directory.
const ManifestPath = ".celeroot/manifest"

const manifestMagic = "celeroot-manifest v1 "

// Manifest lists every file of a release (except the manifest itself),
// sorted by path. It is written to <release>/.celeroot/manifest: a header
// line, then one tab-separated line per file: path, mode, size, sha256 and,
// for symbolic links, the target.
type Manifest struct {
	Version string  `json:"version"`
	Entries []Entry `json:"entries"`
}

// NewManifest sorts entries by path and refuses duplicates and unsafe
// paths.
func NewManifest(version string, entries []Entry) (*Manifest, error) {
	es := append([]Entry(nil), entries...)
	sort.Slice(es, func(i, j int) bool { return es[i].Path < es[j].Path })
	for i, e := range es {
		if err := CheckPath(e.Path); err != nil {
			return nil, err
		}
		if e.Mode.IsSymlink() {
			if err := CheckSymlink(e.Path, e.Target); err != nil {
				return nil, err
			}
		}
		if i > 0 && es[i-1].Path == e.Path {
			return nil, fmt.Errorf("manifest: %s listed twice", e.Path)
		}
	}
	return &Manifest{Version: version, Entries: es}, nil
}

// Header is the manifest's first line (without newline).
func (m *Manifest) Header() string { return manifestMagic + m.Version }

// Encode renders the manifest file.
func (m *Manifest) Encode() []byte {
	var b bytes.Buffer
	b.WriteString(m.Header() + "\n")
	for _, e := range m.Entries {
		b.WriteString(e.line() + "\n")
	}
	return b.Bytes()
}

// Hash is the sha256 of the encoded manifest, in hex.
func (m *Manifest) Hash() string {
	sum := sha256.Sum256(m.Encode())
	return hex.EncodeToString(sum[:])
}

// Size is the sum of the entries' sizes.
func (m *Manifest) Size() int64 {
	var n int64
	for _, e := range m.Entries {
		n += e.Size
	}
	return n
}

// Lookup returns the entry for path.
func (m *Manifest) Lookup(path string) (Entry, bool) {
	i := sort.Search(len(m.Entries), func(i int) bool { return m.Entries[i].Path >= path })
	if i < len(m.Entries) && m.Entries[i].Path == path {
		return m.Entries[i], true
	}
	return Entry{}, false
}

// ParseManifest reads an encoded manifest.
func ParseManifest(data []byte) (*Manifest, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), manifestMagic) {
		return nil, fmt.Errorf("parse manifest: no %q header", strings.TrimSpace(manifestMagic))
	}
	m := &Manifest{Version: strings.TrimPrefix(sc.Text(), manifestMagic)}
	for n := 2; sc.Scan(); n++ {
		e, err := parseEntry(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("parse manifest line %d: %w", n, err)
		}
		m.Entries = append(m.Entries, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("parse manifest: %w", err)
	}
	return NewManifest(m.Version, m.Entries)
}

func parseEntry(line string) (Entry, error) {
	f := strings.Split(line, "\t")
	if len(f) != 4 && len(f) != 5 {
		return Entry{}, fmt.Errorf("want 4 or 5 tab-separated fields, got %d", len(f))
	}
	mode, err := parseMode(f[1])
	if err != nil {
		return Entry{}, err
	}
	size, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil || size < 0 {
		return Entry{}, fmt.Errorf("size %q", f[2])
	}
	if len(f[3]) != 64 {
		return Entry{}, fmt.Errorf("sha256 %q", f[3])
	}
	e := Entry{Path: f[0], Mode: mode, Size: size, SHA256: f[3]}
	if len(f) == 5 {
		e.Target = f[4]
	}
	if mode.IsSymlink() != (len(f) == 5) {
		return Entry{}, fmt.Errorf("%s: a link target goes with mode 120000 only", f[0])
	}
	return e, nil
}

// Delta is what turns the release already on a host (the base) into a new
// one: Send holds the new and changed entries, Keep the unchanged ones that
// are hard-linked from the base, Drop the base paths not carried over
// (changed or removed), Removed those of Drop that are gone from the new
// release.
type Delta struct {
	Send    []Entry
	Keep    []Entry
	Drop    []string
	Removed []string
}

// Diff compares the base manifest (nil: nothing on the host) with next.
// Symbolic links are always sent: they are a tar header each and cannot be
// hard-linked portably.
func Diff(base, next *Manifest) Delta {
	var d Delta
	if base == nil {
		d.Send = append(d.Send, next.Entries...)
		return d
	}
	for _, e := range next.Entries {
		if old, ok := base.Lookup(e.Path); ok && old.Same(e) && !e.Mode.IsSymlink() {
			d.Keep = append(d.Keep, e)
		} else {
			d.Send = append(d.Send, e)
		}
	}
	for _, old := range base.Entries {
		e, ok := next.Lookup(old.Path)
		switch {
		case !ok:
			d.Drop = append(d.Drop, old.Path)
			d.Removed = append(d.Removed, old.Path)
		case !old.Same(e) || e.Mode.IsSymlink():
			d.Drop = append(d.Drop, old.Path)
		}
	}
	return d
}

// SendBytes is the content size of the entries to send.
func (d Delta) SendBytes() int64 {
	var n int64
	for _, e := range d.Send {
		n += e.Size
	}
	return n
}
