package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// checkInside verifies that rel names a regular file inside dir, also after
// resolving symlinks.
func checkInside(dir, rel string) error {
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
	if !st.Mode().IsRegular() {
		return fmt.Errorf("is not a regular file")
	}
	if st.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("is not executable (chmod +x %s)", p)
	}
	return nil
}
