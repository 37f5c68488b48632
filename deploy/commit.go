package deploy

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"time"

	git "github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/celeroot/celeroot/config"
)

// PendingCommit is a commit of one new cl.yaml whose objects are stored
// but which no branch points to yet: `cl host add` deploys the new host at
// the SHA its registration will have, and moves the branch (Finish) only
// once the host is healthy. Abandoned, it is an unreferenced object that
// git gc removes.
type PendingCommit struct {
	repo    *git.Repository
	file    string // cl.yaml on disk
	relPath string // cl.yaml in the repository
	content []byte
	parent  plumbing.Hash
	hash    plumbing.Hash
	subdir  string
}

// PrepareCommit stores a commit on top of HEAD whose tree is HEAD's with
// configPath's content replaced by content.
func PrepareCommit(configPath string, content []byte, message string) (*PendingCommit, error) {
	repo, subdir, err := OpenRepo(configPath)
	if err != nil {
		return nil, err
	}
	head, err := repo.Head()
	if err != nil {
		return nil, fmt.Errorf("prepare commit of %s: read HEAD: %w (commit something first)", configPath, err)
	}
	parent, err := repo.CommitObject(head.Hash())
	if err != nil {
		return nil, fmt.Errorf("prepare commit of %s: %w", configPath, err)
	}
	tree, err := parent.Tree()
	if err != nil {
		return nil, fmt.Errorf("prepare commit of %s: %w", configPath, err)
	}
	rel := path.Join(subdir, filepath.Base(configPath))
	blob, err := storeBlob(repo, content)
	if err != nil {
		return nil, err
	}
	treeHash, err := replaceInTree(repo, tree, splitPath(rel), blob)
	if err != nil {
		return nil, fmt.Errorf("prepare commit of %s: %w", configPath, err)
	}
	sig := signature(repo)
	c := &object.Commit{Author: *sig, Committer: *sig, Message: message, TreeHash: treeHash, ParentHashes: []plumbing.Hash{head.Hash()}}
	obj := repo.Storer.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		return nil, err
	}
	hash, err := repo.Storer.SetEncodedObject(obj)
	if err != nil {
		return nil, fmt.Errorf("prepare commit of %s: store: %w", configPath, err)
	}
	return &PendingCommit{repo: repo, file: configPath, relPath: rel, content: content, parent: head.Hash(), hash: hash, subdir: subdir}, nil
}

// Hash is the commit's SHA.
func (p *PendingCommit) Hash() string { return p.hash.String() }

// Release is the release at the pending commit.
func (p *PendingCommit) Release() (*Release, error) { return FromCommit(p.repo, p.hash, p.subdir) }

// Finish writes cl.yaml, moves the branch HEAD names from the parent to
// the commit (refusing when it moved meanwhile) and stages cl.yaml.
func (p *PendingCommit) Finish() error {
	headRef, err := p.repo.Reference(plumbing.HEAD, false)
	if err != nil {
		return fmt.Errorf("commit %s: %w", p.relPath, err)
	}
	name := plumbing.HEAD
	if headRef.Type() == plumbing.SymbolicReference {
		name = headRef.Target()
	}
	cur, err := p.repo.Reference(name, true)
	if err != nil || cur.Hash() != p.parent {
		return fmt.Errorf("commit %s: %s moved while the host was being added (expected %s): commit %s yourself", p.relPath, name.Short(), ShortVersion(p.parent.String()), p.file)
	}
	if err := config.WriteFileAtomic(p.file, p.content, 0o644); err != nil {
		return err
	}
	if err := p.repo.Storer.CheckAndSetReference(plumbing.NewHashReference(name, p.hash), cur); err != nil {
		return fmt.Errorf("commit %s: move %s: %w (the file is written but not committed)", p.relPath, name.Short(), err)
	}
	wt, err := p.repo.Worktree()
	if err == nil {
		_, err = wt.Add(p.relPath)
	}
	if err != nil {
		return fmt.Errorf("commit %s: committed as %s, but staging it failed: %w (run git reset -- %s)", p.relPath, ShortVersion(p.Hash()), err, p.relPath)
	}
	return nil
}

func splitPath(p string) []string {
	var out []string
	for _, c := range bytes.Split([]byte(p), []byte("/")) {
		if len(c) > 0 {
			out = append(out, string(c))
		}
	}
	return out
}

func storeBlob(repo *git.Repository, data []byte) (plumbing.Hash, error) {
	obj := repo.Storer.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	w, err := obj.Writer()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if _, err := w.Write(data); err != nil {
		return plumbing.ZeroHash, err
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	return repo.Storer.SetEncodedObject(obj)
}

// replaceInTree stores the trees along parts with the last one pointing at
// blob and returns the new root tree's hash. tree may be nil (a new
// directory).
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

// signature is the commit author: GIT_AUTHOR_NAME/EMAIL, then git config,
// then a celeroot default (as config.CommitFile does).
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
