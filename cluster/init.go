package cluster

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/queue"
	gitsync "github.com/celeroot/celeroot/sync"
)

// InitOptions are the inputs of Init.
type InitOptions struct {
	Dir      string
	Name     string // cluster.name; "" : the directory's base name
	RedisURL string // redis.url; "" : the skeleton's
	// Force accepts a namespace that holds keys already.
	Force bool
	// NoRedisCheck skips the Redis check (Redis not running yet).
	NoRedisCheck bool
}

// InitResult is what Init made.
type InitResult struct {
	Dir      string        `json:"dir"`
	Name     string        `json:"name"`
	RedisURL string        `json:"redis_url"`
	Files    []string      `json:"files"`
	Commit   string        `json:"commit"`
	Checked  []queue.Usage `json:"checked,omitempty"` // the namespaces checked (empty unless forced)
}

// Envs are the environments Init creates: cl.yaml's own and the dev overlay.
var Envs = []string{"", "dev"}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// ErrUnreachable marks a Redis that did not answer Init's check.
var ErrUnreachable = errors.New("redis unreachable")

// Init creates a new cluster in o.Dir: cl.yaml, tasks/ and environments/
// from the skeleton with o's name and Redis URL, a git repository on main
// with one commit of them. Before writing anything it refuses a directory
// holding cl.yaml or a .git, and (unless o.NoRedisCheck) a Redis that does
// not answer or whose namespaces of the cluster (its default and dev
// environments) hold keys, naming what is there (unless o.Force).
func Init(ctx context.Context, o InitOptions) (*InitResult, error) {
	abs, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	if o.Name == "" {
		o.Name = filepath.Base(abs)
	}
	if !nameRE.MatchString(o.Name) {
		return nil, fmt.Errorf("cluster name %q: use letters, digits and -_. (pass --name)", o.Name)
	}
	if o.RedisURL == "" {
		o.RedisURL = config.DefaultRedisURL
	}
	for _, f := range []string{"cl.yaml", ".git"} {
		if _, err := os.Lstat(filepath.Join(o.Dir, f)); err == nil {
			return nil, fmt.Errorf("%s already holds %s: it is a cluster or repository already; pick a new or empty directory", o.Dir, f)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	res := &InitResult{Dir: o.Dir, Name: o.Name, RedisURL: o.RedisURL}
	if !o.NoRedisCheck {
		if res.Checked, err = checkFree(ctx, o); err != nil {
			return nil, err
		}
	}
	files, err := config.InitWith(o.Dir, config.InitOptions{Name: o.Name, RedisURL: o.RedisURL})
	if err == nil {
		res.Files = files
		_, _, err = config.Load(config.Options{Path: filepath.Join(o.Dir, "cl.yaml")})
		if err == nil {
			res.Commit, err = gitsync.InitCommit(ctx, o.Dir, "cl cluster init: "+o.Name)
		}
	}
	if err != nil {
		undo(o.Dir, files)
		return nil, fmt.Errorf("init cluster %s in %s: %w (nothing kept)", o.Name, o.Dir, err)
	}
	return res, nil
}

// checkFree opens each namespace Init creates and refuses a used one.
func checkFree(ctx context.Context, o InitOptions) ([]queue.Usage, error) {
	var out []queue.Usage
	for _, env := range Envs {
		u, err := usage(ctx, o.RedisURL, queue.Namespace{Cluster: o.Name, Env: env})
		if err != nil {
			return nil, err
		}
		if !u.Empty() && !o.Force {
			return nil, fmt.Errorf("%s: pick another cluster.name (--name) or pass --force to share it", u)
		}
		out = append(out, u)
	}
	return out, nil
}

func usage(ctx context.Context, url string, ns queue.Namespace) (queue.Usage, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	q, err := queue.Open(ctx, url, ns)
	var ce *queue.ConnectError
	if errors.As(err, &ce) {
		return queue.Usage{}, fmt.Errorf("%w: check of redis %s: %w: start Redis there, pass --redis URL of a running one, or --no-redis-check to create the cluster without checking", ErrUnreachable, config.MaskURL(url), ce.Err)
	}
	if err != nil {
		return queue.Usage{}, err
	}
	defer q.Close()
	return q.Usage(ctx)
}

// undo removes the files Init wrote and the directories left empty.
func undo(dir string, files []string) {
	_ = os.RemoveAll(filepath.Join(dir, ".git"))
	for _, f := range files {
		_ = os.Remove(f)
		for d := filepath.Dir(f); d != filepath.Clean(dir) && d != "."; d = filepath.Dir(d) {
			if os.Remove(d) != nil {
				break
			}
		}
	}
}
