package devfleet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	gitsync "github.com/celeroot/celeroot/sync"
)

// EnsureRepo makes repoDir a git copy of the config directory src when it
// is absent or empty: the files of src (without .git) are copied and
// committed. A repoDir that already is a git work tree is reused as it is,
// with its own commits. created says whether it was made now.
func EnsureRepo(ctx context.Context, src, repoDir string) (created bool, err error) {
	entries, err := os.ReadDir(repoDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("read the dev repository %s: %w", repoDir, err)
	}
	if len(entries) > 0 {
		if _, err := os.Stat(filepath.Join(repoDir, ".git")); err != nil {
			return false, fmt.Errorf("dev repository %s is not empty and not a git work tree: empty it or pass another --repo", repoDir)
		}
		return false, nil
	}
	if err := copyTree(src, repoDir); err != nil {
		_ = os.RemoveAll(repoDir)
		return false, fmt.Errorf("copy %s into the dev repository %s: %w", src, repoDir, err)
	}
	if _, err := gitsync.InitCommit(ctx, repoDir, "cl dev: copy of "+src); err != nil {
		_ = os.RemoveAll(repoDir)
		return false, err
	}
	return true, nil
}

// copyTree copies the regular files, directories and symbolic links of src
// into dst, skipping .git.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if d.Name() == ".git" && rel != "." {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		to := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(to, 0o755)
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, to)
		case info.Mode().IsRegular():
			return copyFile(p, to, info.Mode().Perm())
		}
		return nil // sockets, devices: not config
	})
}

func copyFile(from, to string, perm fs.FileMode) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
