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

// Init writes a commented cl.yaml, a tasks/ module with one task and
// example environment overlays (dev, staging) into dir. It refuses to
// overwrite any existing file unless force is set, checking all files
// before writing any.
func Init(dir string, force bool) ([]string, error) {
	return InitWith(dir, InitOptions{Force: force})
}

// InitOptions are the choices of InitWith.
type InitOptions struct {
	Force bool
	// Name, when set, replaces the skeleton's cluster.name (and the
	// staging overlay's, as NAME-staging).
	Name string
	// RedisURL, when set, replaces the skeleton's redis.url.
	RedisURL string
}

// InitWith is Init with the cluster name and Redis URL set in the files it
// writes (comments kept).
func InitWith(dir string, o InitOptions) ([]string, error) {
	force := o.Force
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
		rel := strings.TrimPrefix(p, "skeleton/")
		if data, err = personalize(rel, data, o); err != nil {
			return err
		}
		files = append(files, file{filepath.Join(dir, rel), data, mode})
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

// personalize sets the cluster name and Redis URL of o in a skeleton file.
func personalize(rel string, data []byte, o InitOptions) ([]byte, error) {
	set := map[[2]string]string{}
	switch rel {
	case "cl.yaml":
		if o.Name != "" {
			set[[2]string{"cluster", "name"}] = o.Name
		}
		if o.RedisURL != "" {
			set[[2]string{"redis", "url"}] = o.RedisURL
		}
	case "environments/staging.yaml":
		if o.Name != "" {
			set[[2]string{"cluster", "name"}] = o.Name + "-staging"
		}
	}
	if len(set) == 0 {
		return data, nil
	}
	d, err := parseSrc(data)
	if err != nil {
		return nil, err
	}
	for path, val := range set {
		_, m := lookup(d.root, path[0])
		_, v := lookup(m, path[1])
		if v == nil {
			return nil, fmt.Errorf("skeleton %s has no %s.%s", rel, path[0], path[1])
		}
		text, err := scalarText(val)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", path[0], path[1], err)
		}
		if err := d.replaceScalar(v, text); err != nil {
			return nil, err
		}
	}
	return d.bytes(), nil
}
