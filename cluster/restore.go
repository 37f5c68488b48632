package cluster

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/queue"
)

// Save takes a backup of src and writes it to file.
func Save(ctx context.Context, src Source, file string, at time.Time) (*Result, error) {
	b, err := Take(ctx, src, at)
	if err != nil {
		return nil, err
	}
	n, err := b.Write(file)
	if err != nil {
		return nil, err
	}
	return &Result{File: file, Files: len(b.Files), Keys: len(b.Keys), Bytes: n, Applied: b.Header.State.Applied}, nil
}

// Name is a backup's file name: "<cluster>-<env>-<time>.clcluster.gz".
func Name(ns queue.Namespace, at time.Time) string {
	return base(ns) + at.UTC().Format("20060102T150405.000Z") + Ext
}

func base(ns queue.Namespace) string {
	return strings.NewReplacer("/", "-", ":", "-").Replace(ns.String()) + "-"
}

// SaveAuto writes a backup into dir under Name and deletes the oldest
// backups of the namespace there beyond keep: `cl cluster backup --auto`
// and the backup before an apply (redis.backup.before_apply).
func SaveAuto(ctx context.Context, src Source, dir string, keep int, at time.Time) (*Result, error) {
	res, err := Save(ctx, src, filepath.Join(dir, Name(src.Queue.Namespace(), at)), at)
	if err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(dir, base(src.Queue.Namespace())+"*"+Ext))
	if err != nil {
		return res, err
	}
	sort.Strings(files) // the time in the name sorts them
	for len(files) > max(keep, 1) {
		if err := os.Remove(files[0]); err != nil {
			return res, fmt.Errorf("remove old backup %s: %w", files[0], err)
		}
		res.Removed = append(res.Removed, files[0])
		files = files[1:]
	}
	return res, nil
}

// RestoreOptions are the choices of Restore.
type RestoreOptions struct {
	// Force loads another namespace's backup into this one (its keys
	// renamed to this namespace's prefix).
	Force bool
	// Extract, when set, also writes the backup's configuration files into
	// this directory, which must not hold any of them.
	Extract string
}

// RestoreResult describes a restore.
type RestoreResult struct {
	File       string    `json:"file"`
	From       string    `json:"from"` // the backup's namespace
	Into       string    `json:"into"`
	Created    time.Time `json:"created"`
	Head       string    `json:"head,omitempty"`
	Keys       int       `json:"keys"`
	Applied    string    `json:"applied,omitempty"`
	Generation int64     `json:"generation"`
	Extracted  []string  `json:"extracted,omitempty"`
}

// Restore loads a backup into q's namespace. The whole file is read and
// checked first (Read; then its namespace, which must be q's unless
// o.Force, and every key, which must fall in q's namespace); any problem
// is an error wrapping ErrRefused and nothing is written. Keys of the
// backup replace keys of the same name; other keys are left alone.
func Restore(ctx context.Context, q *queue.Queue, file string, o RestoreOptions) (*RestoreResult, error) {
	b, err := Read(file)
	if err != nil {
		return nil, fmt.Errorf("restore: %w; nothing was restored", err)
	}
	refuse := func(err error) error {
		return fmt.Errorf("restore %s: %w: %w; nothing was restored", file, ErrRefused, err)
	}
	h, into := b.Header, q.Keys().Prefix()
	if h.Prefix != into {
		if !o.Force {
			return nil, refuse(fmt.Errorf("it is a backup of %s, this configuration is %s: restore it with that cluster's configuration (-c/--env), or pass --force to load it into %s", h.Namespace, q.Namespace(), q.Namespace()))
		}
		for i, k := range b.Keys {
			rest, ok := strings.CutPrefix(k.Key, h.Prefix)
			if !ok {
				return nil, refuse(fmt.Errorf("key %q is outside the backup's namespace %s: the file was altered", k.Key, h.Namespace))
			}
			b.Keys[i].Key = into + rest
		}
	}
	if err := q.CheckKeys(b.Keys); err != nil {
		return nil, refuse(err)
	}
	if o.Extract != "" {
		if err := checkExtract(o.Extract, b.Files); err != nil {
			return nil, refuse(err)
		}
	}
	res := &RestoreResult{File: file, From: h.Namespace, Into: q.Namespace().String(), Created: h.Created, Head: h.Head,
		Applied: h.State.Applied, Generation: h.State.Generation}
	if res.Keys, err = q.ImportKeys(ctx, b.Keys); err != nil {
		return res, fmt.Errorf("restore %s: %w (%d of %d keys restored before it)", file, err, res.Keys, len(b.Keys))
	}
	if o.Extract != "" {
		if res.Extracted, err = extract(o.Extract, b.Files); err != nil {
			return res, fmt.Errorf("restore %s: keys restored, but writing the configuration: %w", file, err)
		}
	}
	return res, nil
}

func checkExtract(dir string, files []File) error {
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s exists: pass --extract a new or empty directory", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

func extract(dir string, files []File) ([]string, error) {
	var out []string
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return out, err
		}
		if err := config.WriteFileAtomic(p, f.Data, f.Mode.Perm()); err != nil {
			return out, err
		}
		if err := os.Chmod(p, f.Mode.Perm()); err != nil {
			return out, err
		}
		out = append(out, p)
	}
	return out, nil
}
