package config

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

//go:embed skeleton
var skeleton embed.FS

// Init writes a commented cl.yaml, a tasks/ module with one task and an
// example environment overlay into dir. It refuses to overwrite any existing
// file unless force is set, checking all files before writing any.
func Init(dir string, force bool) ([]string, error) {
	type file struct {
		path string
		data []byte
		mode os.FileMode
	}
	var files []file
	err := fs.WalkDir(skeleton, "skeleton", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		data, err := skeleton.ReadFile(p)
		if err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(p, ".sh") {
			mode = 0o755
		}
		files = append(files, file{filepath.Join(dir, strings.TrimPrefix(p, "skeleton/")), data, mode})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !force {
		var exist []string
		for _, f := range files {
			if _, err := os.Lstat(f.path); err == nil {
				exist = append(exist, f.path)
			} else if !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
		}
		if len(exist) > 0 {
			return nil, fmt.Errorf("refusing to overwrite %s: pass --force to replace, or choose another directory", strings.Join(exist, ", "))
		}
	}
	var written []string
	for _, f := range files {
		if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
			return written, err
		}
		if err := WriteFileAtomic(f.path, f.data, f.mode); err != nil {
			return written, err
		}
		if err := os.Chmod(f.path, f.mode); err != nil {
			return written, err
		}
		written = append(written, f.path)
	}
	return written, nil
}
