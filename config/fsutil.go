package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// maxLinkHops bounds the symbolic links followed to resolve one path.
const maxLinkHops = 40

// checkInside verifies that rel names an executable regular file inside
// the directory dir of fsys (dir itself may be a link), also after
// resolving symbolic links; display names dir in errors.
func checkInside(fsys fs.FS, dir, rel, display string) error {
	base, err := resolve(fsys, dir)
	if err != nil {
		return fmt.Errorf("does not exist in %s", display)
	}
	real, err := resolve(fsys, path.Join(dir, rel))
	if errors.Is(err, errOutside) {
		return fmt.Errorf("is a link that points outside %s", display)
	}
	if err != nil {
		return fmt.Errorf("does not exist in %s", display)
	}
	if base != "." && real != base && !strings.HasPrefix(real, base+"/") {
		return fmt.Errorf("is a link that points outside %s", display)
	}
	st, err := fs.Stat(fsys, real)
	if err != nil {
		return err
	}
	return checkExec(st.Mode(), path.Join(display, rel))
}

// checkInsideDir is checkInside on disk, where links may be absolute.
func checkInsideDir(dir, rel string) error {
	p := filepath.Join(dir, rel)
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return fmt.Errorf("does not exist in %s", dir)
	}
	base, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	if r, err := filepath.Rel(base, real); err != nil || r == ".." || strings.HasPrefix(r, "../") {
		return fmt.Errorf("is a link that points outside %s", dir)
	}
	st, err := os.Stat(real)
	if err != nil {
		return err
	}
	return checkExec(st.Mode(), p)
}

func checkExec(m fs.FileMode, display string) error {
	if !m.IsRegular() {
		return fmt.Errorf("is not a regular file")
	}
	if m.Perm()&0o111 == 0 {
		return fmt.Errorf("is not executable (chmod +x %s)", display)
	}
	return nil
}

var errOutside = errors.New("link points outside the tree")

// resolve follows the symbolic links along name (a valid fs path) and
// returns the path it really names in fsys. A link that leaves fsys is
// errOutside.
func resolve(fsys fs.FS, name string) (string, error) {
	rest := strings.Split(name, "/")
	cur, hops := ".", 0
	for len(rest) > 0 {
		next := path.Join(cur, rest[0])
		rest = rest[1:]
		fi, err := fs.Lstat(fsys, next)
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if hops++; hops > maxLinkHops {
			return "", fmt.Errorf("%s: too many levels of symbolic links", name)
		}
		target, err := fs.ReadLink(fsys, next)
		if err != nil {
			return "", err
		}
		if path.IsAbs(target) {
			return "", errOutside
		}
		t := path.Join(cur, target)
		if t == ".." || strings.HasPrefix(t, "../") {
			return "", errOutside
		}
		if t != "." {
			rest = append(strings.Split(t, "/"), rest...)
		}
		cur = "."
	}
	return cur, nil
}
