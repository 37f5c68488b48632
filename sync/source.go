package sync

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	stdsync "sync"
	"time"

	git "github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// DefaultTimeout bounds each remote operation of a Source (one fetch).
const DefaultTimeout = 2 * time.Minute

const remoteName = "origin"

// SourceOptions says which repository and branch a Source tracks, where it
// keeps its clone and how it authenticates.
type SourceOptions struct {
	// URL of the repository: a local path or file:// URL, git://host/repo,
	// https://host/repo (http:// only without a token), ssh://user@host/repo
	// or the scp form user@host:repo.
	URL string
	// Branch tracked; default "main".
	Branch string
	// Dir is the state directory holding the clone (a bare repository,
	// created on first use). It must be empty, absent or a clone of URL.
	Dir string
	// Path is the directory of the repository holding cl.yaml,
	// slash-separated; "" is the root. Trees are rooted there.
	Path string

	// https: a token read from TokenFile (first line) or the environment
	// variable TokenEnv at every fetch, sent as HTTP basic auth with user
	// Username (default "x-access-token", which GitHub expects; GitLab takes
	// "oauth2", Gitea any name). CAFile adds PEM CA certificates to the
	// system's for a git server with a private CA.
	TokenFile string
	TokenEnv  string
	Username  string
	CAFile    string

	// ssh: the private key SSHKeyFile (unencrypted; without one, the
	// ssh-agent at SSH_AUTH_SOCK), checked against KnownHostsFile (default
	// ~/.ssh/known_hosts). HostKeyPolicy is "strict" (default: an unknown
	// host is refused) or "accept-new" (an unknown host's key is recorded
	// on first contact and enforced from then on).
	SSHKeyFile     string
	KnownHostsFile string
	HostKeyPolicy  string

	// Timeout bounds each fetch; default DefaultTimeout.
	Timeout time.Duration
}

// Source tracks one branch of a remote config repository in a bare clone:
// Fetch brings the branch up to date and says its head; Tree and Commit
// read any fetched commit from the clone's object store. A Source is safe
// for concurrent use.
type Source struct {
	opts   SourceOptions
	url    sourceURL
	branch plumbing.ReferenceName // refs/heads/<branch> on the remote
	local  plumbing.ReferenceName // refs/remotes/origin/<branch> in the clone

	mu   stdsync.RWMutex // fetch writes, reads share
	repo *git.Repository
}

// CommitInfo describes a commit for plans and audit records.
type CommitInfo struct {
	SHA         string
	Message     string
	Author      string
	AuthorEmail string
	Committer   string
	Time        time.Time // committer time
}

// NewSource checks opts and opens (or creates) the clone in opts.Dir. It
// does not touch the network: the first Fetch clones.
func NewSource(opts SourceOptions) (*Source, error) {
	if opts.Branch == "" {
		opts.Branch = "main"
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Username == "" {
		opts.Username = "x-access-token"
	}
	if opts.Dir == "" {
		return nil, errors.New("config repository source: no state directory: set one for the clone (the agent's --state-dir)")
	}
	u, err := parseSourceURL(opts.URL)
	if err != nil {
		return nil, err
	}
	if err := u.checkAuth(opts); err != nil {
		return nil, err
	}
	if !plumbing.NewBranchReferenceName(opts.Branch).IsBranch() || strings.ContainsAny(opts.Branch, " ~^:?*[\\") || strings.HasPrefix(opts.Branch, "-") {
		return nil, fmt.Errorf("branch %q is not a valid branch name: pass a name like main", opts.Branch)
	}
	if opts.Path, err = cleanSubdir(opts.Path); err != nil {
		return nil, err
	}
	s := &Source{
		opts:   opts,
		url:    u,
		branch: plumbing.NewBranchReferenceName(opts.Branch),
		local:  plumbing.NewRemoteReferenceName(remoteName, opts.Branch),
	}
	if s.repo, err = openClone(opts.Dir, u); err != nil {
		return nil, err
	}
	return s, nil
}

// cleanSubdir turns a config directory inside the repository into its
// slash-separated clean form ("" for the root).
func cleanSubdir(p string) (string, error) {
	p = strings.Trim(filepath.ToSlash(p), "/")
	if p == "" || p == "." {
		return "", nil
	}
	c := path.Clean(p)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("config path %q leaves the repository: give a directory inside it, like fleet", p)
	}
	return c, nil
}

// openClone opens the bare clone in dir, or creates one when dir is absent
// or empty. A clone of another URL is refused, unless it holds no refs yet
// (a first fetch that failed): then it is pointed at url.
func openClone(dir string, u sourceURL) (*git.Repository, error) {
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read state directory %s: %w", dir, err)
	}
	if len(entries) == 0 {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create state directory %s: %w", dir, err)
		}
		repo, err := git.PlainInit(dir, true)
		if err != nil {
			return nil, fmt.Errorf("create a clone in %s: %w", dir, err)
		}
		if _, err := repo.CreateRemote(&gitconfig.RemoteConfig{Name: remoteName, URLs: []string{u.stored}}); err != nil {
			return nil, fmt.Errorf("create a clone in %s: %w", dir, err)
		}
		return repo, nil
	}
	repo, err := git.PlainOpen(dir)
	if err != nil {
		return nil, fmt.Errorf("state directory %s is not empty and holds no git clone: empty it or choose another directory", dir)
	}
	cfg, err := repo.Config()
	if err != nil {
		return nil, fmt.Errorf("read the clone's config in %s: %w", dir, err)
	}
	rc := cfg.Remotes[remoteName]
	if rc != nil && len(rc.URLs) > 0 && rc.URLs[0] == u.stored {
		return repo, nil
	}
	if hasRefs(repo) {
		other := "no remote"
		if rc != nil && len(rc.URLs) > 0 {
			other = rc.URLs[0]
		}
		return nil, fmt.Errorf("state directory %s holds a clone of %s, not %s: remove it or choose another directory", dir, other, u.stored)
	}
	delete(cfg.Remotes, remoteName)
	cfg.Remotes[remoteName] = &gitconfig.RemoteConfig{Name: remoteName, URLs: []string{u.stored}}
	if err := repo.SetConfig(cfg); err != nil {
		return nil, fmt.Errorf("point the clone in %s at %s: %w", dir, u.stored, err)
	}
	return repo, nil
}

func hasRefs(repo *git.Repository) bool {
	iter, err := repo.References()
	if err != nil {
		return true
	}
	defer iter.Close()
	found := false
	_ = iter.ForEach(func(r *plumbing.Reference) error {
		if r.Type() == plumbing.HashReference {
			found = true
			return errors.New("stop")
		}
		return nil
	})
	return found
}

// URL is the tracked repository's URL, credentials removed.
func (s *Source) URL() string { return s.url.stored }

// Branch is the tracked branch.
func (s *Source) Branch() string { return s.opts.Branch }

// Subdir is the config directory's path inside the repository ("" for the
// root).
func (s *Source) Subdir() string { return s.opts.Path }

// Fetch brings the tracked branch up to date from the remote and returns
// its head SHA. When nothing changed it costs one ref listing. A branch
// whose history was rewritten (force-pushed) is followed.
func (s *Source) Fetch(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	auth, secret, err := s.url.auth(s.opts)
	if err != nil {
		return "", s.url.scrub(err)
	}
	opts := &git.FetchOptions{
		RemoteName: remoteName,
		RemoteURL:  s.url.dial,
		RefSpecs:   []gitconfig.RefSpec{gitconfig.RefSpec("+" + s.branch.String() + ":" + s.local.String())},
		Tags:       git.NoTags,
		Force:      true,
		Auth:       auth,
	}
	if s.opts.CAFile != "" {
		if opts.CABundle, err = os.ReadFile(s.opts.CAFile); err != nil {
			return "", fmt.Errorf("read CA file %s: %w", s.opts.CAFile, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	err = s.repo.FetchContext(ctx, opts)
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return "", s.fetchError(ctx, err, secret)
	}
	ref, err := s.repo.Reference(s.local, true)
	if err != nil {
		return "", fmt.Errorf("read the fetched head of %s in %s: %w", s.opts.Branch, s.opts.Dir, err)
	}
	return ref.Hash().String(), nil
}

// fetchError turns a failed fetch into one line naming the URL, the branch
// and the fix, with credentials scrubbed.
func (s *Source) fetchError(ctx context.Context, err error, secret string) error {
	what := fmt.Sprintf("fetch %s from %s", s.opts.Branch, s.url.stored)
	var hint string
	switch {
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return s.url.scrub(fmt.Errorf("%s: no answer within %s: check the network, or raise the timeout: %w", what, s.opts.Timeout, ctx.Err()), secret)
	case errors.Is(err, git.NoMatchingRefSpecError{}):
		hint = fmt.Sprintf("the branch %s does not exist there: push it or track another branch", s.opts.Branch)
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		hint = fmt.Sprintf("the repository is empty: push a commit to %s", s.opts.Branch)
	case errors.Is(err, transport.ErrRepositoryNotFound):
		hint = "no repository there (or no access): check the URL and the credentials"
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed):
		hint = "the server refused the credentials: check the token or key and its access to the repository"
	}
	if hint != "" {
		return s.url.scrub(fmt.Errorf("%s: %s: %w", what, hint, err), secret)
	}
	return s.url.scrub(fmt.Errorf("%s: %w", what, err), secret)
}

// Head is the head of the tracked branch as last fetched (no network); an
// error before the first successful Fetch.
func (s *Source) Head(ctx context.Context) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	ref, err := s.repo.Reference(s.local, true)
	if err != nil {
		return "", fmt.Errorf("no fetched head of %s in %s yet: fetch first", s.opts.Branch, s.opts.Dir)
	}
	return ref.Hash().String(), nil
}

// Tree reads the config directory (SourceOptions.Path) at commit, a full
// SHA already fetched, into memory.
func (s *Source) Tree(ctx context.Context, sha string) (*Tree, error) {
	if err := checkSHA(sha); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return readTree(ctx, s.repo, sha, s.opts.Path)
}

// ReadTree is Tree as an fs.FS and the commit's time, for consumers that
// declare their own interface (deploy.Repo).
func (s *Source) ReadTree(ctx context.Context, sha string) (fs.FS, time.Time, error) {
	t, err := s.Tree(ctx, sha)
	if err != nil {
		return nil, time.Time{}, err
	}
	return t, t.Time, nil
}

// Changes lists uncommitted changes: a clone has no work tree, so none.
// It makes a Source usable where a deploy.Repo is wanted.
func (s *Source) Changes(ctx context.Context) ([]string, error) {
	return nil, ctx.Err()
}

// Commit describes a fetched commit.
func (s *Source) Commit(ctx context.Context, sha string) (CommitInfo, error) {
	if err := ctx.Err(); err != nil {
		return CommitInfo{}, err
	}
	if err := checkSHA(sha); err != nil {
		return CommitInfo{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, err := s.repo.CommitObject(plumbing.NewHash(sha))
	if err != nil {
		return CommitInfo{}, fmt.Errorf("read commit %s in %s: %w (fetch it first)", sha[:12], s.opts.Dir, err)
	}
	return CommitInfo{
		SHA:         c.Hash.String(),
		Message:     c.Message,
		Author:      c.Author.Name,
		AuthorEmail: c.Author.Email,
		Committer:   c.Committer.Name,
		Time:        c.Committer.When,
	}, nil
}

// checkSHA refuses anything but a full hex SHA-1.
func checkSHA(sha string) error {
	if len(sha) != 40 || strings.Trim(strings.ToLower(sha), "0123456789abcdef") != "" {
		return fmt.Errorf("%q is not a full commit SHA: pass the 40 hex digits Fetch returned", sha)
	}
	return nil
}
