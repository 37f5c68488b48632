package secrets

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// envProvider reads secrets from the process environment: NAME is the
// variable PREFIX+NAME, "/" written as "_".
type envProvider struct{ prefix string }

func (p *envProvider) Get(_ context.Context, r Ref) (Value, error) {
	if r.Version != "" {
		return Value{}, errors.New("the env provider has no versions: drop @" + r.Version)
	}
	name := p.prefix + strings.ReplaceAll(r.Name, "/", "_")
	v, ok := os.LookupEnv(name)
	if !ok {
		return Value{}, fmt.Errorf("environment variable %s is not set: %w", name, ErrNotFound)
	}
	return Value{Text: v, Structured: true}, nil
}

// fileProvider reads secrets from files under a directory: NAME is the file
// DIR/NAME; its content is the value (a final newline dropped), or with
// #KEY a JSON or YAML object.
type fileProvider struct{ dir string }

func (p *fileProvider) Get(_ context.Context, r Ref) (Value, error) {
	if r.Version != "" {
		return Value{}, errors.New("the file provider has no versions: drop @" + r.Version)
	}
	b, err := readUnder(p.dir, r.Name)
	if err != nil {
		return Value{}, err
	}
	return Value{Text: trimNewline(string(b)), Structured: true}, nil
}

// readUnder reads dir/name, refusing to leave dir through a symbolic link.
func readUnder(dir, name string) ([]byte, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open the secrets directory: %w", err)
	}
	defer root.Close()
	b, err := root.ReadFile(filepath.FromSlash(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no file %s in %s: %w", name, dir, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return b, nil
}

func trimNewline(s string) string {
	s = strings.TrimSuffix(s, "\n")
	return strings.TrimSuffix(s, "\r")
}
