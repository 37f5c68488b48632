package sync

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// WatchDebounce is how long Watch waits after the last change to a
// repository's refs before it calls notify: a commit, a rebase or a fetch
// touches several files, and they make one notification.
const WatchDebounce = 100 * time.Millisecond

// Watch watches the refs of the local repository holding dir (a work tree,
// a directory inside one, a linked worktree or a bare repository) and calls
// notify shortly after they change: a commit, a reset, a branch update by
// a push into it. Only refs are watched (HEAD, packed-refs, refs/), so
// editing files in the work tree calls nothing until they are committed.
//
// Watch returns once the watch is in place; it runs until ctx is done.
// notify is called from one goroutine, never after ctx is done. If the
// watch loses events (the kernel's queue overflowed), notify is called:
// the caller fetches and reads the head from git, so a spare call is
// harmless.
func Watch(ctx context.Context, dir string, notify func()) error {
	gitDirs, err := findGitDirs(dir)
	if err != nil {
		return err
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch %s: %w", dir, err)
	}
	for _, g := range gitDirs {
		if err := w.Add(g); err != nil {
			w.Close()
			return fmt.Errorf("watch %s: %w", g, err)
		}
		if err := addTree(w, filepath.Join(g, "refs")); err != nil {
			w.Close()
			return err
		}
	}
	go watchLoop(ctx, w, gitDirs, notify)
	return nil
}

func watchLoop(ctx context.Context, w *fsnotify.Watcher, gitDirs []string, notify func()) {
	defer w.Close()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if ev.Has(fsnotify.Create) {
				if st, err := os.Stat(ev.Name); err == nil && st.IsDir() && underRefs(ev.Name, gitDirs) {
					_ = addTree(w, ev.Name) // a new branch namespace, like refs/heads/feature/
				}
			}
			if refChange(ev.Name, gitDirs) {
				timer.Reset(WatchDebounce)
			}
		case _, ok := <-w.Errors:
			if !ok {
				return
			}
			timer.Reset(WatchDebounce)
		case <-timer.C:
			if ctx.Err() != nil {
				return
			}
			notify()
		}
	}
}

// refChange says whether a changed path is a ref: HEAD, packed-refs or a
// file under refs/ (not a lock file, which git renames into place).
func refChange(name string, gitDirs []string) bool {
	if strings.HasSuffix(name, ".lock") {
		return false
	}
	for _, g := range gitDirs {
		switch name {
		case filepath.Join(g, "HEAD"), filepath.Join(g, "packed-refs"):
			return true
		}
	}
	return underRefs(name, gitDirs)
}

func underRefs(name string, gitDirs []string) bool {
	for _, g := range gitDirs {
		if strings.HasPrefix(name, filepath.Join(g, "refs")+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// addTree watches dir and every directory under it (fsnotify is not
// recursive).
func addTree(w *fsnotify.Watcher, dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir && os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			if err := w.Add(p); err != nil {
				return fmt.Errorf("watch %s: %w", p, err)
			}
		}
		return nil
	})
}

// findGitDirs returns the git directories whose refs decide the head of
// the repository holding dir: its git directory and, for a linked
// worktree, the common directory too.
func findGitDirs(dir string) ([]string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	for d := abs; ; d = filepath.Dir(d) {
		dotGit := filepath.Join(d, ".git")
		st, err := os.Stat(dotGit)
		switch {
		case err == nil && st.IsDir():
			return []string{dotGit}, nil
		case err == nil:
			return linkedGitDirs(d, dotGit)
		case isBareRepo(d):
			return []string{d}, nil
		}
		if filepath.Dir(d) == d {
			return nil, fmt.Errorf("watch %s: %w", dir, ErrNotGit)
		}
	}
}

// linkedGitDirs reads a .git file ("gitdir: PATH") of a linked worktree.
func linkedGitDirs(root, dotGit string) ([]string, error) {
	data, err := os.ReadFile(dotGit)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dotGit, err)
	}
	line, ok := strings.CutPrefix(strings.TrimSpace(string(data)), "gitdir:")
	if !ok {
		return nil, fmt.Errorf("%s is a file without a gitdir: line: repair the worktree with git worktree repair", dotGit)
	}
	gd := strings.TrimSpace(line)
	if !filepath.IsAbs(gd) {
		gd = filepath.Join(root, gd)
	}
	dirs := []string{gd}
	if c, err := os.ReadFile(filepath.Join(gd, "commondir")); err == nil {
		common := strings.TrimSpace(string(c))
		if !filepath.IsAbs(common) {
			common = filepath.Join(gd, common)
		}
		dirs = append(dirs, filepath.Clean(common))
	}
	return dirs, nil
}

func isBareRepo(d string) bool {
	for _, name := range []string{"HEAD", "objects", "refs"} {
		if _, err := os.Stat(filepath.Join(d, name)); err != nil {
			return false
		}
	}
	return true
}
