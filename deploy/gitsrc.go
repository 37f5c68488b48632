package deploy

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// ErrDirty is matched by the error for a work tree with uncommitted
// changes when they are not allowed.
var ErrDirty = errors.New("uncommitted changes")

// ErrNotGit is matched when the configuration is not in a git work tree:
// releases are named by commit.
var ErrNotGit = errors.New("not in a git repository")

// maxReleaseBytes caps the size of a config tree read into memory.
const maxReleaseBytes = 512 << 20

// WorkTreeOptions say which work tree to release.
type WorkTreeOptions struct {
	// ConfigPath is cl.yaml; its directory is the release's root.
	ConfigPath string
	// AllowDirty deploys uncommitted changes (tracked and untracked files
	// not ignored) as version <sha>-dirty-<hash>. Without it they are an
	// error matching ErrDirty.
	AllowDirty bool
	// Override replaces the work tree's content of some paths (relative to
	// the config directory), as uncommitted changes: `cl host add
	// --no-commit` deploys the cl.yaml it is about to write.
	Override map[string][]byte
}

// FromWorkTree builds the release of the work tree holding ConfigPath: its
// HEAD commit, or HEAD plus the uncommitted changes.
func FromWorkTree(o WorkTreeOptions) (*Release, error) {
	repo, subdir, err := OpenRepo(o.ConfigPath)
	if err != nil {
		return nil, err
	}
	head, err := repo.Head()
	if err != nil {
		return nil, fmt.Errorf("release %s: read HEAD: %w (commit something first)", o.ConfigPath, err)
	}
	rel, err := FromCommit(repo, head.Hash(), subdir)
	if err != nil {
		return nil, err
	}
	changes, err := workTreeChanges(repo, subdir, o.Override)
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

// OpenRepo opens the git repository holding path and returns the path of
// path's directory inside it ("" for the root).
func OpenRepo(configPath string) (*git.Repository, string, error) {
	abs, err := filepath.Abs(configPath)
	if err != nil {
		return nil, "", err
	}
	dir := filepath.Dir(abs)
	repo, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true})
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return nil, "", fmt.Errorf("%s is %w: deploys are named by commit; run `git init && git add -A && git commit` in %s", configPath, ErrNotGit, dir)
	}
	if err != nil {
		return nil, "", fmt.Errorf("open the git repository of %s: %w", configPath, err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return nil, "", fmt.Errorf("git work tree of %s: %w", configPath, err)
	}
	root, err := filepath.EvalSymlinks(wt.Filesystem.Root())
	if err != nil {
		return nil, "", err
	}
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, "", err
	}
	sub, err := filepath.Rel(root, realDir)
	if err != nil || sub == ".." || strings.HasPrefix(sub, "../") {
		return nil, "", fmt.Errorf("%s is outside the git work tree %s", configPath, root)
	}
	if sub == "." {
		sub = ""
	}
	return repo, filepath.ToSlash(sub), nil
}

// FromCommit builds the release of subdir ("" = the root) at commit.
func FromCommit(repo *git.Repository, commit plumbing.Hash, subdir string) (*Release, error) {
	c, err := repo.CommitObject(commit)
	if err != nil {
		return nil, fmt.Errorf("release %s: read commit: %w", commit, err)
	}
	tree, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("release %s: read tree: %w", commit, err)
	}
	if subdir != "" {
		if tree, err = tree.Tree(subdir); err != nil {
			return nil, fmt.Errorf("release %s: directory %s: %w", commit, subdir, err)
		}
	}
	files, err := readTree(tree)
	if err != nil {
		return nil, fmt.Errorf("release %s: %w", ShortVersion(commit.String()), err)
	}
	if err := checkFiles(files); err != nil {
		return nil, fmt.Errorf("release %s: %w", ShortVersion(commit.String()), err)
	}
	return &Release{Version: commit.String(), Commit: commit.String(), Subdir: subdir, Time: c.Committer.When, Files: files}, nil
}

func readTree(tree *object.Tree) ([]File, error) {
	w := object.NewTreeWalker(tree, true, nil)
	defer w.Close()
	var files []File
	var total int64
	for {
		name, e, err := w.Next()
		if err == io.EOF {
			return files, nil
		}
		if err != nil {
			return nil, fmt.Errorf("walk tree at %q: %w", name, err)
		}
		var mode Mode
		switch e.Mode {
		case filemode.Dir:
			continue
		case filemode.Regular, filemode.Deprecated:
			mode = ModeFile
		case filemode.Executable:
			mode = ModeExec
		case filemode.Symlink:
			mode = ModeSymlink
		case filemode.Submodule:
			return nil, fmt.Errorf("%s is a git submodule: releases hold files only (vendor it or deploy it separately)", name)
		default:
			return nil, fmt.Errorf("%s: unsupported git file mode %s", name, e.Mode)
		}
		data, err := readBlob(tree, e.Hash)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		if total += int64(len(data)); total > maxReleaseBytes {
			return nil, fmt.Errorf("the tree is larger than %d MiB: keep large files out of the config repository", maxReleaseBytes>>20)
		}
		files = append(files, newFile(name, mode, data))
	}
}

func readBlob(tree *object.Tree, h plumbing.Hash) ([]byte, error) {
	b, err := tree.TreeEntryFile(&object.TreeEntry{Name: "blob", Mode: filemode.Regular, Hash: h})
	if err != nil {
		return nil, err
	}
	r, err := b.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
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

// workTreeChanges lists the paths under subdir that differ from HEAD in
// the work tree (or are overridden), read from disk.
func workTreeChanges(repo *git.Repository, subdir string, override map[string][]byte) ([]change, error) {
	wt, err := repo.Worktree()
	if err != nil {
		return nil, err
	}
	st, err := wt.Status()
	if err != nil {
		return nil, fmt.Errorf("git status: %w", err)
	}
	root := wt.Filesystem.Root()
	prefix := ""
	if subdir != "" {
		prefix = subdir + "/"
	}
	seen := map[string]bool{}
	var out []change
	for p, s := range st {
		if s.Worktree == git.Unmodified && s.Staging == git.Unmodified || !strings.HasPrefix(p, prefix) {
			continue
		}
		rel := strings.TrimPrefix(p, prefix)
		if _, ok := override[rel]; ok {
			continue
		}
		f, err := readWorkFile(filepath.Join(root, filepath.FromSlash(p)), rel)
		if err != nil {
			return nil, err
		}
		seen[rel] = true
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
