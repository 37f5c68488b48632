package deploy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// ErrDirty is matched by the error for a work tree with uncommitted
// changes when they are not allowed.
var ErrDirty = errors.New("uncommitted changes")

// ErrNotGit is matched when the configuration is not in a git work tree:
// releases are named by commit.
var ErrNotGit = errors.New("not in a git repository")

// Repo is the git work tree holding cl.yaml, as a release needs it.
// Package sync's *WorkTree implements it; cmd/cl opens one and hands it in.
type Repo interface {
	// Subdir is the config directory's path inside the repository ("" for
	// the root).
	Subdir() string
	// Head is the SHA of the commit HEAD points at.
	Head(ctx context.Context) (string, error)
	// ReadTree is the config directory at commit and the commit's time.
	ReadTree(ctx context.Context, commit string) (fs.FS, time.Time, error)
	// Changes lists the config directory's paths (relative to it) that
	// differ from HEAD in the work tree.
	Changes(ctx context.Context) ([]string, error)
}

// Committer commits registry edits in the work tree of a Repo. Package
// sync's *WorkTree implements it.
type Committer interface {
	// CommitFile commits file alone, or says why it did not.
	CommitFile(ctx context.Context, file, message string) (hash, notCommitted string, err error)
	// Prepare stores a commit of HEAD with name (relative to the config
	// directory) replaced by content, on no branch, and returns its SHA.
	Prepare(ctx context.Context, name string, content []byte, message string) (string, error)
	// Advance runs write, then moves HEAD's branch from from to to
	// (refusing when it moved meanwhile) and stages name.
	Advance(ctx context.Context, from, to, name string, write func() error) error
}

// RepoCommitter is a Repo that can also commit: what `cl host add` needs.
type RepoCommitter interface {
	Repo
	Committer
}

// WorkTreeOptions say which work tree to release.
type WorkTreeOptions struct {
	// ConfigPath is cl.yaml; its directory is the release's root.
	ConfigPath string
	// Repo is the git work tree holding ConfigPath; nil when it is not in
	// one (an error matching ErrNotGit: releases are named by commit).
	Repo Repo
	// AllowDirty deploys uncommitted changes (tracked and untracked files
	// not ignored) as version <sha>-dirty-<hash>. Without it they are an
	// error matching ErrDirty.
	AllowDirty bool
	// Override replaces the work tree's content of some paths (relative to
	// the config directory), as uncommitted changes: `cl host add
	// --no-commit` deploys the cl.yaml it is about to write.
	Override map[string][]byte
}

// notGit is the error for a configuration outside any git work tree.
func notGit(configPath string) error {
	dir := filepath.Dir(configPath)
	return fmt.Errorf("%s is %w: deploys are named by commit; run `git init && git add -A && git commit` in %s", configPath, ErrNotGit, dir)
}

// FromWorkTree builds the release of the work tree holding ConfigPath: its
// HEAD commit, or HEAD plus the uncommitted changes.
func FromWorkTree(ctx context.Context, o WorkTreeOptions) (*Release, error) {
	if o.Repo == nil {
		return nil, notGit(o.ConfigPath)
	}
	head, err := o.Repo.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("release %s: %w", o.ConfigPath, err)
	}
	rel, err := FromCommit(ctx, o.Repo, head)
	if err != nil {
		return nil, err
	}
	changes, err := workTreeChanges(ctx, o.Repo, filepath.Dir(o.ConfigPath), o.Override)
	if err != nil {
		return nil, fmt.Errorf("release %s: %w", o.ConfigPath, err)
	}
	if len(changes) == 0 {
		return rel, nil
	}
	if !o.AllowDirty && len(o.Override) == 0 {
		return nil, fmt.Errorf("%w in %s: %s: commit them, or deploy them anyway with --allow-dirty (version %s-dirty-…)",
			ErrDirty, filepath.Dir(o.ConfigPath), summarize(changedPaths(changes), 5), ShortVersion(rel.Commit))
	}
	return applyChanges(rel, changes)
}

// FromCommit builds the release of the config directory of repo at commit
// (a full SHA).
func FromCommit(ctx context.Context, repo Repo, commit string) (*Release, error) {
	fsys, when, err := repo.ReadTree(ctx, commit)
	if err != nil {
		return nil, fmt.Errorf("release %s: %w", ShortVersion(commit), err)
	}
	return FromTree(fsys, commit, when, repo.Subdir())
}

// FromTree builds the release of commit from the files of its config
// directory: regular files (executable when any x bit is set) and symbolic
// links; anything else is refused.
func FromTree(fsys fs.FS, commit string, when time.Time, subdir string) (*Release, error) {
	var files []File
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		f, err := treeFile(fsys, p)
		if err != nil {
			return err
		}
		files = append(files, f)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("release %s: %w", ShortVersion(commit), err)
	}
	if err := checkFiles(files); err != nil {
		return nil, fmt.Errorf("release %s: %w", ShortVersion(commit), err)
	}
	return &Release{Version: commit, Commit: commit, Subdir: subdir, Time: when, Files: files}, nil
}

func treeFile(fsys fs.FS, p string) (File, error) {
	fi, err := fs.Lstat(fsys, p)
	if err != nil {
		return File{}, err
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		t, err := fs.ReadLink(fsys, p)
		if err != nil {
			return File{}, err
		}
		return newFile(p, ModeSymlink, []byte(t)), nil
	case fi.Mode().IsRegular():
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return File{}, err
		}
		mode := ModeFile
		if fi.Mode()&0o111 != 0 {
			mode = ModeExec
		}
		return newFile(p, mode, data), nil
	}
	return File{}, fmt.Errorf("%s is neither a file nor a symbolic link", p)
}

// change is one path of the config directory whose work-tree state
// differs from HEAD: its new content, or gone.
type change struct {
	path string
	file *File // nil: deleted
}

func changedPaths(cs []change) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.path
	}
	return out
}

// workTreeChanges lists the paths of the config directory dir that
// differ from HEAD in the work tree (or are overridden), read from disk.
func workTreeChanges(ctx context.Context, repo Repo, dir string, override map[string][]byte) ([]change, error) {
	paths, err := repo.Changes(ctx)
	if err != nil {
		return nil, err
	}
	var out []change
	for _, rel := range paths {
		if _, ok := override[rel]; ok {
			continue
		}
		f, err := readWorkFile(filepath.Join(dir, filepath.FromSlash(rel)), rel)
		if err != nil {
			return nil, err
		}
		out = append(out, change{path: rel, file: f})
	}
	for rel, data := range override {
		f := newFile(rel, ModeFile, data)
		out = append(out, change{path: rel, file: &f})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out, nil
}

// readWorkFile reads a work-tree file as a release file; nil when it does
// not exist (deleted).
func readWorkFile(abs, rel string) (*File, error) {
	fi, err := os.Lstat(abs)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var f File
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		t, err := os.Readlink(abs)
		if err != nil {
			return nil, err
		}
		f = newFile(rel, ModeSymlink, []byte(t))
	case fi.Mode().IsRegular():
		data, err := os.ReadFile(abs)
		if err != nil {
			return nil, err
		}
		mode := ModeFile
		if fi.Mode()&0o111 != 0 {
			mode = ModeExec
		}
		f = newFile(rel, mode, data)
	default:
		return nil, fmt.Errorf("%s is neither a file nor a symbolic link", abs)
	}
	return &f, nil
}

// applyChanges returns rel with the work-tree changes applied, versioned
// <commit>-dirty-<hash of the changes>.
func applyChanges(rel *Release, changes []change) (*Release, error) {
	byPath := map[string]File{}
	for _, f := range rel.Files {
		byPath[f.Path] = f
	}
	h := sha256.New()
	for _, c := range changes {
		if c.file == nil {
			delete(byPath, c.path)
			fmt.Fprintf(h, "%s\tdeleted\n", c.path)
			continue
		}
		byPath[c.path] = *c.file
		fmt.Fprintf(h, "%s\t%s\t%s\n", c.path, c.file.Mode, c.file.SHA256)
	}
	out := *rel
	out.Files = make([]File, 0, len(byPath))
	for _, f := range byPath {
		out.Files = append(out.Files, f)
	}
	if err := checkFiles(out.Files); err != nil {
		return nil, fmt.Errorf("release of the work tree: %w", err)
	}
	out.Dirty = true
	out.Changed = changedPaths(changes)
	out.Version = rel.Commit + "-dirty-" + hex.EncodeToString(h.Sum(nil))[:12]
	out.Time = time.Now().Truncate(time.Second)
	return &out, nil
}

func summarize(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:n], ", ") + fmt.Sprintf(" and %d more", len(items)-n)
}

func readConfig(p string) ([]byte, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	return b, nil
}
