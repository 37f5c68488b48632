package sync

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"
)

// File is one file of a tree: a regular file (Mode 0o644 or 0o755) with its
// content, or a symbolic link (Mode has fs.ModeSymlink) whose Data is the
// link's target.
type File struct {
	Path string
	Mode fs.FileMode
	Data []byte
}

// Target is a symbolic link's target ("" for a regular file).
func (f File) Target() string {
	if f.Mode&fs.ModeSymlink == 0 {
		return ""
	}
	return string(f.Data)
}

// Tree is the content of a directory of the repository at one commit, held
// in memory. It is an fs.FS (also fs.ReadDirFS, fs.ReadLinkFS and
// fs.StatFS) rooted at that directory, so config.Load reads cl.yaml and
// tasks/ from it and deploy builds a release from it. Open follows
// symbolic links that stay inside the tree.
type Tree struct {
	Commit string    // full SHA
	Time   time.Time // committer time
	Files  []File    // sorted by Path
	files  map[string]*File
	dirs   map[string][]fs.DirEntry
}

const maxLinkHops = 40

func newTree(commit string, when time.Time, files []File) *Tree {
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	t := &Tree{Commit: commit, Time: when, Files: files, files: map[string]*File{}, dirs: map[string][]fs.DirEntry{".": nil}}
	for i := range files {
		f := &files[i]
		t.files[f.Path] = f
		child, dir := fs.DirEntry(fs.FileInfoToDirEntry(fileInfo{f: f})), path.Dir(f.Path)
		for {
			_, seen := t.dirs[dir]
			t.dirs[dir] = append(t.dirs[dir], child)
			if seen || dir == "." {
				break
			}
			child = fs.FileInfoToDirEntry(dirInfo(dir))
			dir = path.Dir(dir)
		}
	}
	for d := range t.dirs {
		sort.Slice(t.dirs[d], func(i, j int) bool { return t.dirs[d][i].Name() < t.dirs[d][j].Name() })
	}
	return t
}

// lookup resolves name, following symbolic links when follow is set, and
// returns its file (nil for a directory) and its real path.
func (t *Tree) lookup(op, name string, follow bool) (*File, string, error) {
	if !fs.ValidPath(name) {
		return nil, "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	rest := strings.Split(name, "/")
	if name == "." {
		rest = nil
	}
	cur, hops := ".", 0
	for len(rest) > 0 {
		next := path.Join(cur, rest[0])
		rest = rest[1:]
		if _, ok := t.dirs[next]; ok {
			cur = next
			continue
		}
		f, ok := t.files[next]
		if !ok || (len(rest) > 0 && f.Mode&fs.ModeSymlink == 0) {
			return nil, "", &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		if f.Mode&fs.ModeSymlink == 0 || (!follow && len(rest) == 0) {
			return f, next, nil
		}
		if hops++; hops > maxLinkHops {
			return nil, "", &fs.PathError{Op: op, Path: name, Err: errors.New("too many levels of symbolic links")}
		}
		target := path.Join(cur, f.Target())
		if path.IsAbs(f.Target()) || target == ".." || strings.HasPrefix(target, "../") {
			return nil, "", &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		if target != "." {
			rest = append(strings.Split(target, "/"), rest...)
		}
		cur = "."
	}
	return nil, cur, nil
}

// Open opens name, following symbolic links.
func (t *Tree) Open(name string) (fs.File, error) {
	f, real, err := t.lookup("open", name, true)
	if err != nil {
		return nil, err
	}
	if f == nil {
		return &openDir{info: dirInfo(real), entries: t.dirs[real]}, nil
	}
	return &openFile{info: fileInfo{f: f}, Reader: bytes.NewReader(f.Data)}, nil
}

// ReadDir lists the directory name, sorted by name.
func (t *Tree) ReadDir(name string) ([]fs.DirEntry, error) {
	f, real, err := t.lookup("readdir", name, true)
	if err != nil {
		return nil, err
	}
	if f != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	return append([]fs.DirEntry(nil), t.dirs[real]...), nil
}

// Stat describes name, following symbolic links.
func (t *Tree) Stat(name string) (fs.FileInfo, error) {
	f, real, err := t.lookup("stat", name, true)
	if err != nil {
		return nil, err
	}
	if f == nil {
		return dirInfo(real), nil
	}
	return fileInfo{f: f}, nil
}

// Lstat describes name without following a final symbolic link.
func (t *Tree) Lstat(name string) (fs.FileInfo, error) {
	f, real, err := t.lookup("lstat", name, false)
	if err != nil {
		return nil, err
	}
	if f == nil {
		return dirInfo(real), nil
	}
	return fileInfo{f: f}, nil
}

// ReadLink returns the target of the symbolic link name.
func (t *Tree) ReadLink(name string) (string, error) {
	f, _, err := t.lookup("readlink", name, false)
	if err != nil {
		return "", err
	}
	if f == nil || f.Mode&fs.ModeSymlink == 0 {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	return f.Target(), nil
}

type fileInfo struct{ f *File }

func (i fileInfo) Name() string       { return path.Base(i.f.Path) }
func (i fileInfo) Size() int64        { return int64(len(i.f.Data)) }
func (i fileInfo) Mode() fs.FileMode  { return i.f.Mode }
func (i fileInfo) ModTime() time.Time { return time.Time{} }
func (i fileInfo) IsDir() bool        { return false }
func (i fileInfo) Sys() any           { return nil }

type dirInfo string

func (d dirInfo) Name() string       { return path.Base(string(d)) }
func (d dirInfo) Size() int64        { return 0 }
func (d dirInfo) Mode() fs.FileMode  { return fs.ModeDir | 0o755 }
func (d dirInfo) ModTime() time.Time { return time.Time{} }
func (d dirInfo) IsDir() bool        { return true }
func (d dirInfo) Sys() any           { return nil }

type openFile struct {
	info fileInfo
	*bytes.Reader
}

func (f *openFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *openFile) Close() error               { return nil }

type openDir struct {
	info    dirInfo
	entries []fs.DirEntry
	off     int
}

func (d *openDir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *openDir) Close() error               { return nil }
func (d *openDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: string(d.info), Err: fmt.Errorf("is a directory")}
}

func (d *openDir) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.entries[d.off:]
	if n <= 0 {
		d.off = len(d.entries)
		return append([]fs.DirEntry(nil), rest...), nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(rest))
	d.off += n
	return append([]fs.DirEntry(nil), rest[:n]...), nil
}
