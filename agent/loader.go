package agent

import (
	"context"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/deploy"
	"github.com/celeroot/celeroot/reconcile"
)

// Trees reads the config directory at a commit from git objects (a
// sync.WorkTree or sync.Source).
type Trees interface {
	ReadTree(ctx context.Context, commit string) (fs.FS, time.Time, error)
}

// Loader loads revisions — the validated configuration and the release at
// a commit — without a checkout, and keeps the last few.
type Loader struct {
	Trees  Trees
	Subdir string // the config directory inside the repository
	Env    string // --env overlay
	// Verify, when set, must accept a commit before its revision loads
	// (cl agent --require-signed): fsys is the config directory at sha and
	// cfg the configuration loaded from it.
	Verify func(ctx context.Context, sha string, fsys fs.FS, cfg *config.Config) error

	mu    sync.Mutex
	cache map[string]*loaded
	order []string
}

type loaded struct {
	rev *reconcile.Revision
	rel *deploy.Release
}

// loaderCache is how many revisions a Loader keeps.
const loaderCache = 8

// Revision returns the desired state at sha; an invalid configuration is
// an error naming every problem with its file:line:col.
func (l *Loader) Revision(ctx context.Context, sha string) (*reconcile.Revision, error) {
	ld, err := l.load(ctx, sha)
	if err != nil {
		return nil, err
	}
	return ld.rev, nil
}

// Release returns the release at sha.
func (l *Loader) Release(ctx context.Context, sha string) (*deploy.Release, error) {
	ld, err := l.load(ctx, sha)
	if err != nil {
		return nil, err
	}
	return ld.rel, nil
}

func (l *Loader) load(ctx context.Context, sha string) (*loaded, error) {
	l.mu.Lock()
	ld, ok := l.cache[sha]
	l.mu.Unlock()
	if ok {
		return ld, nil
	}
	fsys, when, err := l.Trees.ReadTree(ctx, sha)
	if err != nil {
		return nil, err
	}
	cfg, _, err := config.LoadValid(config.Options{FS: fsys, Path: "cl.yaml", Env: l.Env})
	if err != nil {
		return nil, fmt.Errorf("cl.yaml at %s is not valid: %w", short(sha), err)
	}
	if l.Verify != nil {
		if err := l.Verify(ctx, sha, fsys, cfg); err != nil {
			return nil, fmt.Errorf("signature check (--require-signed): %w", err)
		}
	}
	rel, err := deploy.FromTree(fsys, sha, when, l.Subdir)
	if err != nil {
		return nil, err
	}
	rev := &reconcile.Revision{SHA: sha, Config: cfg, Files: make([]reconcile.File, 0, len(rel.Files))}
	for _, f := range rel.Files {
		rev.Files = append(rev.Files, reconcile.File{Path: f.Path, Digest: fmt.Sprintf("%o:%s", f.Mode, f.SHA256)})
	}
	ld = &loaded{rev: rev, rel: rel}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cache == nil {
		l.cache = map[string]*loaded{}
	}
	if _, ok := l.cache[sha]; !ok {
		l.cache[sha] = ld
		l.order = append(l.order, sha)
		if len(l.order) > loaderCache {
			delete(l.cache, l.order[0])
			l.order = l.order[1:]
		}
	}
	return ld, nil
}
