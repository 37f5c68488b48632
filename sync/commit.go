package sync

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// CommitFile commits file (and only file) when it lies in a git work tree.
// It returns the new commit's hash, or a reason why nothing was committed:
// not in a git work tree, or other changes already staged (which a commit
// would sweep in).
func CommitFile(ctx context.Context, file, message string) (hash, notCommitted string, err error) {
	w, err := Open(ctx, filepath.Dir(file))
	if errors.Is(err, ErrNotGit) {
		return "", "not in a git work tree", nil
	}
	if err != nil {
		return "", "", err
	}
	return w.CommitFile(ctx, file, message)
}

// CommitFile is the package's CommitFile in this work tree; file is a path
// on disk.
func (w *WorkTree) CommitFile(ctx context.Context, file, message string) (hash, notCommitted string, err error) {
	if err := ctx.Err(); err != nil {
		return "", "", err
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return "", "", err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", "", err
	}
	rel, err := filepath.Rel(w.root, real)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", "not inside the git work tree", nil
	}
	rel = filepath.ToSlash(rel)
	wt, err := w.repo.Worktree()
	if err != nil {
		return "", "", fmt.Errorf("git work tree: %w", err)
	}
	st, err := wt.Status()
	if err != nil {
		return "", "", fmt.Errorf("git status: %w", err)
	}
	var staged []string
	for p, s := range st {
		if p != rel && s.Staging != git.Unmodified && s.Staging != git.Untracked {
			staged = append(staged, p)
		}
	}
	if len(staged) > 0 {
		sort.Strings(staged)
		return "", fmt.Sprintf("other changes are staged (%s); commit %s yourself", strings.Join(staged, ", "), rel), nil
	}
	if _, err := wt.Add(rel); err != nil {
		return "", "", fmt.Errorf("git add %s: %w", rel, err)
	}
	h, err := wt.Commit(message, &git.CommitOptions{Author: signature(w.repo)})
	if err != nil {
		return "", "", fmt.Errorf("git commit: %w", err)
	}
	return h.String(), "", nil
}

// Prepare stores a commit on top of HEAD whose tree is HEAD's with name
// (a path relative to the opened directory) replaced by content, and
// returns its SHA. No branch points to it yet (see Advance); abandoned, it
// is an unreferenced object that git gc removes.
func (w *WorkTree) Prepare(ctx context.Context, name string, content []byte, message string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	head, err := w.repo.Head()
	if err != nil {
		return "", fmt.Errorf("prepare commit of %s: read HEAD: %w (commit something first)", name, err)
	}
	parent, err := w.repo.CommitObject(head.Hash())
	if err != nil {
		return "", fmt.Errorf("prepare commit of %s: %w", name, err)
	}
	tree, err := parent.Tree()
	if err != nil {
		return "", fmt.Errorf("prepare commit of %s: %w", name, err)
	}
	blob, err := storeBlob(w.repo, content)
	if err != nil {
		return "", fmt.Errorf("prepare commit of %s: store: %w", name, err)
	}
	treeHash, err := replaceInTree(w.repo, tree, strings.Split(path.Join(w.subdir, name), "/"), blob)
	if err != nil {
		return "", fmt.Errorf("prepare commit of %s: %w", name, err)
	}
	sig := signature(w.repo)
	c := &object.Commit{Author: *sig, Committer: *sig, Message: message, TreeHash: treeHash, ParentHashes: []plumbing.Hash{head.Hash()}}
	obj := w.repo.Storer.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		return "", err
	}
	hash, err := w.repo.Storer.SetEncodedObject(obj)
	if err != nil {
		return "", fmt.Errorf("prepare commit of %s: store: %w", name, err)
	}
	return hash.String(), nil
}

// Advance moves the branch HEAD names from commit from to commit to (one
// made by Prepare), refusing when it no longer points at from. write runs
// just before the move (it writes the file the commit changed to disk);
// then name (relative to the opened directory) is staged, so the work tree
// and index match the new commit.
func (w *WorkTree) Advance(ctx context.Context, from, to, name string, write func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rel := path.Join(w.subdir, name)
	headRef, err := w.repo.Reference(plumbing.HEAD, false)
	if err != nil {
		return fmt.Errorf("commit %s: %w", rel, err)
	}
	branch := plumbing.HEAD
	if headRef.Type() == plumbing.SymbolicReference {
		branch = headRef.Target()
	}
	cur, err := w.repo.Reference(branch, true)
	if err != nil || cur.Hash().String() != from {
		return fmt.Errorf("commit %s: %s moved meanwhile (expected %s): commit %s yourself", rel, branch.Short(), from[:min(12, len(from))], rel)
	}
	if err := write(); err != nil {
		return err
	}
	if err := w.repo.Storer.CheckAndSetReference(plumbing.NewHashReference(branch, plumbing.NewHash(to)), cur); err != nil {
		return fmt.Errorf("commit %s: move %s: %w (the file is written but not committed)", rel, branch.Short(), err)
	}
	wt, err := w.repo.Worktree()
	if err == nil {
		_, err = wt.Add(rel)
	}
	if err != nil {
		return fmt.Errorf("commit %s: committed as %s, but staging it failed: %w (run git reset -- %s)", rel, to[:min(12, len(to))], err, rel)
	}
	return nil
}

func storeBlob(repo *git.Repository, data []byte) (plumbing.Hash, error) {
	obj := repo.Storer.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	wr, err := obj.Writer()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if _, err := wr.Write(data); err != nil {
		return plumbing.ZeroHash, err
	}
	if err := wr.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	return repo.Storer.SetEncodedObject(obj)
}

// replaceInTree stores the trees along parts with the last one pointing at
// blob and returns the new root tree's hash. tree may be nil (a new
// directory). An executable file stays executable.
func replaceInTree(repo *git.Repository, tree *object.Tree, parts []string, blob plumbing.Hash) (plumbing.Hash, error) {
	var entries []object.TreeEntry
	if tree != nil {
		entries = append(entries, tree.Entries...)
	}
	i := 0
	for i < len(entries) && entries[i].Name != parts[0] {
		i++
	}
	entry := object.TreeEntry{Name: parts[0], Mode: filemode.Regular, Hash: blob}
	if len(parts) > 1 {
		var sub *object.Tree
		if i < len(entries) && entries[i].Mode == filemode.Dir {
			var err error
			if sub, err = repo.TreeObject(entries[i].Hash); err != nil {
				return plumbing.ZeroHash, err
			}
		}
		h, err := replaceInTree(repo, sub, parts[1:], blob)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		entry = object.TreeEntry{Name: parts[0], Mode: filemode.Dir, Hash: h}
	} else if i < len(entries) && entries[i].Mode == filemode.Executable {
		entry.Mode = filemode.Executable
	}
	if i < len(entries) {
		entries[i] = entry
	} else {
		entries = append(entries, entry)
	}
	sort.Sort(object.TreeEntrySorter(entries))
	obj := repo.Storer.NewEncodedObject()
	if err := (&object.Tree{Entries: entries}).Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	return repo.Storer.SetEncodedObject(obj)
}

// signature is the commit author: GIT_AUTHOR_NAME/EMAIL, then git config
// (repository, global, system), then a celeroot default; the time is cut to
// the second, as git stores it.
func signature(repo *git.Repository) *object.Signature {
	name, email := os.Getenv("GIT_AUTHOR_NAME"), os.Getenv("GIT_AUTHOR_EMAIL")
	if cfg, err := repo.ConfigScoped(gitconfig.SystemScope); err == nil {
		name = firstSet(name, cfg.User.Name, cfg.Author.Name)
		email = firstSet(email, cfg.User.Email, cfg.Author.Email)
	}
	return &object.Signature{Name: firstSet(name, "celeroot"), Email: firstSet(email, "cl@localhost"), When: time.Now().Truncate(time.Second)}
}

func firstSet(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
