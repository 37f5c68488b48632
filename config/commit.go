package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// CommitFile commits path (and only path) when it lies in a git work tree.
// It returns the new commit's hash, or a reason why nothing was committed
// (not a repository; other changes already staged, which a commit would
// sweep in).
func CommitFile(path, message string) (hash, notCommitted string, err error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", "", err
	}
	repo, err := git.PlainOpenWithOptions(filepath.Dir(abs), &git.PlainOpenOptions{DetectDotGit: true})
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return "", "not in a git work tree", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("open git repository: %w", err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return "", "", fmt.Errorf("git work tree: %w", err)
	}
	root, err := filepath.EvalSymlinks(wt.Filesystem.Root())
	if err != nil {
		return "", "", err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", "", err
	}
	rel, err := filepath.Rel(root, real)
	if err != nil || strings.HasPrefix(rel, "..") {
		return "", "not inside the git work tree", nil
	}
	rel = filepath.ToSlash(rel)
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
	h, err := wt.Commit(message, &git.CommitOptions{Author: signature(repo)})
	if err != nil {
		return "", "", fmt.Errorf("git commit: %w", err)
	}
	return h.String(), "", nil
}

// signature is the commit author: GIT_AUTHOR_NAME/EMAIL, then git config
// (repository, global, system), then a celeroot default.
func signature(repo *git.Repository) *object.Signature {
	name, email := os.Getenv("GIT_AUTHOR_NAME"), os.Getenv("GIT_AUTHOR_EMAIL")
	if cfg, err := repo.ConfigScoped(gitconfig.SystemScope); err == nil {
		name = firstSet(name, cfg.User.Name, cfg.Author.Name)
		email = firstSet(email, cfg.User.Email, cfg.Author.Email)
	}
	return &object.Signature{Name: firstSet(name, "celeroot"), Email: firstSet(email, "cl@localhost"), When: time.Now()}
}

func firstSet(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
