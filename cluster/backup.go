package cluster

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/reconcile"
)

// Format is the version of the backup file format.
const Format = "celeroot-cluster-backup/1"

// Ext ends the name of a backup file.
const Ext = ".clcluster.gz"

// Header is the first line of a backup.
type Header struct {
	Format    string    `json:"format"`
	Cluster   string    `json:"cluster"`
	Env       string    `json:"env"`
	Namespace string    `json:"namespace"`
	Prefix    string    `json:"prefix"`
	Created   time.Time `json:"created"`
	Head      string    `json:"head,omitempty"` // the config repository's HEAD SHA, if a git work tree
	State     State     `json:"state"`
}

// State summarizes the state a backup holds (it is also in the keys).
type State struct {
	Applied    string            `json:"applied,omitempty"` // applied SHA
	Generation int64             `json:"generation"`
	Bad        []string          `json:"bad,omitempty"`        // SHAs whose apply failed
	LastFires  map[string]string `json:"last_fires,omitempty"` // schedule → its last fire record (JSON)
}

// File is a configuration file of a backup.
type File struct {
	Path string      `json:"path"` // slash path relative to cl.yaml's directory
	Mode fs.FileMode `json:"mode"`
	Data []byte      `json:"data"`
}

// Trailer is the last line: the counts and the SHA-256 (hex) of every
// byte before it.
type Trailer struct {
	Files  int    `json:"files"`
	Keys   int    `json:"keys"`
	SHA256 string `json:"sha256"`
}

type line struct {
	File *File            `json:"file,omitempty"`
	Key  *queue.KeyRecord `json:"key,omitempty"`
	End  *Trailer         `json:"end,omitempty"`
}

// Backup is a whole backup in memory.
type Backup struct {
	Header Header
	Files  []File
	Keys   []queue.KeyRecord
}

// Source is what a backup reads: the namespace's keys (a *queue.Queue),
// the configuration (the directory of cl.yaml: os.DirFS of a checkout, or
// a commit's tree) and the commit it is at.
type Source struct {
	Queue  *queue.Queue
	Config fs.FS
	Head   string // "" when not a git work tree
}

// Result describes a backup written.
type Result struct {
	File    string   `json:"file"`
	Files   int      `json:"files"`
	Keys    int      `json:"keys"`
	Bytes   int64    `json:"bytes"`
	Applied string   `json:"applied,omitempty"`
	Removed []string `json:"removed,omitempty"`
}

// Take reads the configuration and the namespace's keys.
func Take(ctx context.Context, src Source, at time.Time) (*Backup, error) {
	q := src.Queue
	ns := q.Namespace()
	b := &Backup{Header: Header{Format: Format, Cluster: ns.Cluster, Env: envName(ns), Namespace: ns.String(),
		Prefix: q.Keys().Prefix(), Created: at.UTC(), Head: src.Head}}
	var err error
	if b.Files, err = configFiles(src.Config); err != nil {
		return nil, err
	}
	if b.Keys, err = q.ExportKeys(ctx); err != nil {
		return nil, err
	}
	if b.Header.State, err = readState(ctx, q); err != nil {
		return nil, err
	}
	return b, nil
}

func envName(ns queue.Namespace) string {
	_, env, _ := strings.Cut(ns.String(), "/")
	return env
}

func readState(ctx context.Context, q *queue.Queue) (State, error) {
	var s State
	_, data, err := q.LoadDoc(ctx, "applied")
	if err != nil {
		return s, err
	}
	if len(data) > 0 {
		var st reconcile.State
		if err := json.Unmarshal(data, &st); err != nil {
			return s, fmt.Errorf("read the applied state: %w", err)
		}
		s.Applied, s.Generation = st.SHA, st.Generation
		for sha := range st.Bad {
			s.Bad = append(s.Bad, sha)
		}
		sort.Strings(s.Bad)
	}
	if s.LastFires, err = q.Beat().Last(ctx); err != nil {
		return s, err
	}
	return s, nil
}

// configFiles reads cl.yaml, tasks/ and environments/ of fsys.
func configFiles(fsys fs.FS) ([]File, error) {
	var out []File
	data, err := fs.ReadFile(fsys, "cl.yaml")
	if err != nil {
		return nil, fmt.Errorf("read the configuration: %w", err)
	}
	out = append(out, File{Path: "cl.yaml", Mode: 0o644, Data: data})
	for _, root := range []string{"tasks", "environments"} {
		err := fs.WalkDir(fsys, root, func(p string, e fs.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) && p == root {
				return fs.SkipDir
			}
			if err != nil || !e.Type().IsRegular() {
				return err
			}
			fi, err := e.Info()
			if err != nil {
				return err
			}
			data, err := fs.ReadFile(fsys, p)
			if err != nil {
				return err
			}
			out = append(out, File{Path: p, Mode: fi.Mode().Perm(), Data: data})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read the configuration: %w", err)
		}
	}
	return out, nil
}

// Write writes b to file (under a temporary name, renamed when complete).
func (b *Backup) Write(file string) (int64, error) {
	dir := filepath.Dir(file)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, fmt.Errorf("backup directory %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(file)+"-*")
	if err != nil {
		return 0, fmt.Errorf("create backup in %s: %w", dir, err)
	}
	defer os.Remove(tmp.Name())
	err = b.encode(tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), file)
	}
	if err != nil {
		return 0, fmt.Errorf("write backup %s: %w", file, err)
	}
	fi, err := os.Stat(file)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (b *Backup) encode(w io.Writer) error {
	zw := gzip.NewWriter(w)
	bw := bufio.NewWriterSize(zw, 1<<20)
	sum := sha256.New()
	out := io.MultiWriter(bw, sum)
	put := func(v any) error {
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		_, err = out.Write(append(data, '\n'))
		return err
	}
	if err := put(b.Header); err != nil {
		return err
	}
	for i := range b.Files {
		if err := put(line{File: &b.Files[i]}); err != nil {
			return err
		}
	}
	for i := range b.Keys {
		if err := put(line{Key: &b.Keys[i]}); err != nil {
			return err
		}
	}
	t := Trailer{Files: len(b.Files), Keys: len(b.Keys), SHA256: hex.EncodeToString(sum.Sum(nil))}
	if err := put(line{End: &t}); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return zw.Close()
}

// ErrRefused marks a backup file refused before anything was written.
var ErrRefused = errors.New("backup refused")

// Read reads and checks a whole backup file: gzip checksum, format
// version, every line, the trailer's counts and SHA-256, no data after
// it. Any failure wraps ErrRefused.
func Read(file string) (*Backup, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("open backup: %w", err)
	}
	defer f.Close()
	b, err := decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", file, ErrRefused, err)
	}
	return b, nil
}

func decode(r io.Reader) (*Backup, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("not a gzip file (%v): pass a %s file written by cl cluster backup", err, Ext)
	}
	br := bufio.NewReaderSize(zr, 1<<20)
	sum := sha256.New()
	b := &Backup{}
	raw, err := next(br, sum)
	if err == nil {
		err = json.Unmarshal(raw, &b.Header)
	}
	if err != nil || b.Header.Format != Format {
		if err == nil {
			err = fmt.Errorf("format %q", b.Header.Format)
		}
		return nil, fmt.Errorf("not a %s file (%v): pass a file written by cl cluster backup", Format, err)
	}
	for n := 2; ; n++ {
		before := hex.EncodeToString(sum.Sum(nil))
		raw, err := next(br, sum)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, fmt.Errorf("the file ends at line %d before its trailer: it is truncated; pick a complete backup", n)
			}
			return nil, fmt.Errorf("line %d: %w: the file is corrupt; pick another backup", n, err)
		}
		var l line
		if err := json.Unmarshal(raw, &l); err != nil {
			return nil, fmt.Errorf("line %d: %w: the file is corrupt; pick another backup", n, err)
		}
		switch {
		case l.File != nil:
			if !validPath(l.File.Path) {
				return nil, fmt.Errorf("line %d: file path %q leaves the configuration directory: the file was altered", n, l.File.Path)
			}
			b.Files = append(b.Files, *l.File)
		case l.Key != nil:
			b.Keys = append(b.Keys, *l.Key)
		case l.End != nil:
			t := l.End
			if t.SHA256 != before || t.Files != len(b.Files) || t.Keys != len(b.Keys) {
				return nil, fmt.Errorf("checksum or counts of the trailer do not match the content (%d files, %d keys): the file is corrupt; pick another backup", len(b.Files), len(b.Keys))
			}
			if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("data after the trailer (%v): the file is corrupt; pick another backup", err)
			}
			return b, nil
		default:
			return nil, fmt.Errorf("line %d: neither a file, a key nor the trailer: the file is corrupt", n)
		}
	}
}

// next reads one newline-terminated line and adds it to sum.
func next(br *bufio.Reader, sum hash.Hash) ([]byte, error) {
	raw, err := br.ReadBytes('\n')
	if err != nil {
		if errors.Is(err, io.EOF) && len(raw) > 0 {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	sum.Write(raw)
	return raw, nil
}

func validPath(p string) bool {
	return p != "" && fs.ValidPath(p) && (p == "cl.yaml" || strings.HasPrefix(p, "tasks/") || strings.HasPrefix(p, "environments/"))
}
