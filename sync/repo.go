package sync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// ErrNotGit is matched when a path is not in a git work tree.
var ErrNotGit = errors.New("not in a git repository")

// MaxTreeBytes caps the content of a tree read into memory.
const MaxTreeBytes = 512 << 20

// WorkTree is a git work tree opened at one of its directories (the one
// holding cl.yaml): reads and commits are relative to that directory.
type WorkTree struct {
	repo   *git.Repository
	root   string // the work tree's root, symlinks resolved
	subdir string // the directory inside the repository, slash-separated; "" = root
}

// Open opens the git work tree holding dir. A dir outside any work tree is
// an error matching ErrNotGit.
func Open(ctx context.Context, dir string) (*WorkTree, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	repo, err := git.PlainOpenWithOptions(abs, &git.PlainOpenOptions{DetectDotGit: true})
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return nil, fmt.Errorf("%s is %w", dir, ErrNotGit)
	}
	if err != nil {
		return nil, fmt.Errorf("open the git repository of %s: %w", dir, err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return nil, fmt.Errorf("git work tree of %s: %w", dir, err)
	}
	root, err := filepath.EvalSymlinks(wt.Filesystem.Root())
	if err != nil {
		return nil, err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, err
	}
	sub, err := filepath.Rel(root, real)
	if err != nil || sub == ".." || strings.HasPrefix(sub, "../") {
		return nil, fmt.Errorf("%s is outside the git work tree %s", dir, root)
	}
	if sub == "." {
		sub = ""
	}
	return &WorkTree{repo: repo, root: root, subdir: filepath.ToSlash(sub)}, nil
}

// Root is the work tree's root directory.
func (w *WorkTree) Root() string { return w.root }

// Subdir is the opened directory's path inside the repository ("" for the
// root).
func (w *WorkTree) Subdir() string { return w.subdir }

// Head is the SHA of the commit HEAD points at.
func (w *WorkTree) Head(ctx context.Context) (string, error) {
	return w.Resolve(ctx, "HEAD")
}

// Resolve returns the full SHA of a revision: HEAD, a branch, a tag, a
// (short) SHA.
func (w *WorkTree) Resolve(ctx context.Context, rev string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	h, err := w.repo.ResolveRevision(plumbing.Revision(rev))
	if err != nil {
		if rev == "HEAD" {
			return "", fmt.Errorf("read HEAD of %s: %w (commit something first)", w.root, err)
		}
		return "", fmt.Errorf("resolve %s in %s: %w", rev, w.root, err)
	}
	return h.String(), nil
}

// Tree reads the opened directory at commit (a full SHA) into memory.
func (w *WorkTree) Tree(ctx context.Context, commit string) (*Tree, error) {
	return readTree(ctx, w.repo, commit, w.subdir)
}

// ReadTree is Tree as an fs.FS and the commit's time, for consumers that
// declare their own interface (deploy.Repo).
func (w *WorkTree) ReadTree(ctx context.Context, commit string) (fs.FS, time.Time, error) {
	t, err := w.Tree(ctx, commit)
	if err != nil {
		return nil, time.Time{}, err
	}
	return t, t.Time, nil
}

// readTree reads dir ("" = the root) of commit.
func readTree(ctx context.Context, repo *git.Repository, commit, dir string) (*Tree, error) {
	short := commit[:min(12, len(commit))]
	c, err := repo.CommitObject(plumbing.NewHash(commit))
	if err != nil {
		return nil, fmt.Errorf("read commit %s: %w", short, err)
	}
	tree, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("read the tree of %s: %w", short, err)
	}
	if dir != "" {
		if tree, err = tree.Tree(dir); err != nil {
			return nil, fmt.Errorf("read directory %s at %s: %w", dir, short, err)
		}
	}
	files, err := treeFiles(ctx, tree)
	if err != nil {
		return nil, fmt.Errorf("read the tree of %s: %w", short, err)
	}
	return newTree(c.Hash.String(), c.Committer.When, files), nil
}

func treeFiles(ctx context.Context, tree *object.Tree) ([]File, error) {
	w := object.NewTreeWalker(tree, true, nil)
	defer w.Close()
	var files []File
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		name, e, err := w.Next()
		if err == io.EOF {
			return files, nil
		}
		if err != nil {
			return nil, fmt.Errorf("walk tree at %q: %w", name, err)
		}
		var mode fs.FileMode
		switch e.Mode {
		case filemode.Dir:
			continue
		case filemode.Regular, filemode.Deprecated:
			mode = 0o644
		case filemode.Executable:
			mode = 0o755
		case filemode.Symlink:
			mode = fs.ModeSymlink | 0o777
		case filemode.Submodule:
			return nil, fmt.Errorf("%s is a git submodule: releases hold files only (vendor it or deploy it separately)", name)
		default:
			return nil, fmt.Errorf("%s: unsupported git file mode %s", name, e.Mode)
		}
		data, err := readBlob(tree, e.Hash)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		if total += int64(len(data)); total > MaxTreeBytes {
			return nil, fmt.Errorf("the tree is larger than %d MiB: keep large files out of the config repository", MaxTreeBytes>>20)
		}
		files = append(files, File{Path: name, Mode: mode, Data: data})
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

// Changes lists the paths under the opened directory (relative to it,
// sorted) whose work-tree or staged state differs from HEAD: modified,
// added, deleted, untracked and not ignored.
func (w *WorkTree) Changes(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	wt, err := w.repo.Worktree()
	if err != nil {
		return nil, err
	}
	st, err := wt.Status()
	if err != nil {
		return nil, fmt.Errorf("git status in %s: %w", w.root, err)
	}
	prefix := ""
	if w.subdir != "" {
		prefix = w.subdir + "/"
	}
	var out []string
	for p, s := range st {
		if s.Worktree == git.Unmodified && s.Staging == git.Unmodified || !strings.HasPrefix(p, prefix) {
			continue
		}
		out = append(out, strings.TrimPrefix(p, prefix))
	}
	sort.Strings(out)
	return out, nil
}

// Branch is the branch HEAD is on; an error when HEAD is detached.
func (w *WorkTree) Branch(ctx context.Context) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	ref, err := w.repo.Reference(plumbing.HEAD, false)
	if err != nil {
		return "", fmt.Errorf("read HEAD of %s: %w", w.root, err)
	}
	if ref.Type() != plumbing.SymbolicReference || !ref.Target().IsBranch() {
		return "", fmt.Errorf("HEAD of %s is detached: check out a branch (git switch main)", w.root)
	}
	return ref.Target().Short(), nil
}
