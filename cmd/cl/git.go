package main

import (
	"context"
	"errors"
	"path/filepath"

	"github.com/celeroot/celeroot/deploy"
	gitsync "github.com/celeroot/celeroot/sync"
)

// openRepo opens the git work tree holding cl.yaml (package sync); nil,
// without an error, when cl.yaml is not in one.
func openRepo(a *App) (deploy.RepoCommitter, error) {
	w, err := gitsync.Open(a.Ctx, filepath.Dir(a.ConfigPath))
	if errors.Is(err, gitsync.ErrNotGit) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return w, nil
}

// headSHA is the HEAD commit of the git work tree holding dir, or "".
func headSHA(ctx context.Context, dir string) string {
	w, err := gitsync.Open(ctx, dir)
	if err != nil {
		return ""
	}
	sha, err := w.Head(ctx)
	if err != nil {
		return ""
	}
	return sha
}
