package sync

import (
	"context"
	"errors"
	"fmt"
	"os"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
)

// InitCommit makes dir (a directory of files, no repository yet) a git work
// tree on branch main and commits every file in it with message. It returns
// the commit's SHA. A directory that already holds a repository is refused.
func InitCommit(ctx context.Context, dir, message string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if _, err := os.Stat(dir + "/.git"); err == nil {
		return "", fmt.Errorf("init %s: it is a git repository already: commit in it instead", dir)
	}
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: plumbing.Main}})
	if err != nil {
		return "", fmt.Errorf("init %s: %w", dir, err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return "", fmt.Errorf("init %s: %w", dir, err)
	}
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil && !errors.Is(err, git.ErrGlobNoMatches) {
		return "", fmt.Errorf("init %s: add the files: %w", dir, err)
	}
	sig := signature(repo)
	h, err := wt.Commit(message, &git.CommitOptions{Author: sig, Committer: sig, AllowEmptyCommits: true})
	if err != nil {
		return "", fmt.Errorf("init %s: commit the files: %w", dir, err)
	}
	return h.String(), nil
}
