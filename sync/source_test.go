package sync

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/celeroot/celeroot/config"
)

func newTestSource(t *testing.T, opts SourceOptions) *Source {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = filepath.Join(t.TempDir(), "clone")
	}
	s, err := NewSource(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustFetch(t *testing.T, s *Source) string {
	t.Helper()
	sha, err := s.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return sha
}

// TestSourceGitDaemon tracks a branch served by a real git daemon: the
// first fetch clones, a push is seen, a fetch with nothing new returns the
// same head, a force-push is followed, and every fetched commit's tree
// loads as a fleet configuration.
func TestSourceGitDaemon(t *testing.T) {
	ctx := context.Background()
	d := startGitDaemon(t)
	url := d.bare(t, "fleet.git")
	r, first := fleetWorkRepo(t)
	r.git("push", "-q", url, "main")

	s := newTestSource(t, SourceOptions{URL: url})
	if got := mustFetch(t, s); got != first {
		t.Fatalf("first fetch: head %s, pushed %s", got, first)
	}
	tree, err := s.Tree(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	cfg, diags, err := config.Load(config.Options{FS: tree, Path: "cl.yaml"})
	if err != nil || diags.HasErrors() {
		t.Fatalf("load cl.yaml at %s: %v %v", first, err, diags)
	}
	if cfg.Hosts.Len() == 0 {
		t.Fatal("the example fleet at the fetched commit has no hosts")
	}

	r.write("README.md", "second\n", 0o644)
	second := r.commitAll("second commit\n\nwith a body")
	r.git("push", "-q", url, "main")
	if got := mustFetch(t, s); got != second {
		t.Fatalf("fetch after a push: head %s, pushed %s", got, second)
	}
	if got := mustFetch(t, s); got != second {
		t.Fatalf("fetch with nothing new: head %s, want %s", got, second)
	}
	info, err := s.Commit(ctx, second)
	if err != nil {
		t.Fatal(err)
	}
	if info.SHA != second || info.Message != "second commit\n\nwith a body\n" || info.Author != "t" || info.AuthorEmail != "t@t" || info.Committer != "t" || info.Time.IsZero() {
		t.Fatalf("commit info %+v", info)
	}

	// Rewrite history: the branch moves to a commit that does not descend
	// from the fetched head.
	r.git("reset", "-q", "--hard", first)
	r.write("README.md", "rewritten\n", 0o644)
	rewritten := r.commitAll("rewritten")
	r.git("push", "-q", "--force", url, "main")
	if got := mustFetch(t, s); got != rewritten {
		t.Fatalf("fetch after a force-push: head %s, pushed %s", got, rewritten)
	}
	tree, err = s.Tree(ctx, rewritten)
	if err != nil {
		t.Fatal(err)
	}
	if data, err := fs.ReadFile(tree, "README.md"); err != nil || string(data) != "rewritten\n" {
		t.Fatalf("README.md at the rewritten head: %q %v", data, err)
	}
	if head, err := s.Head(ctx); err != nil || head != rewritten {
		t.Fatalf("Head %s %v, want %s", head, err, rewritten)
	}

	// A second Source on the same directory reuses the clone.
	again := newTestSource(t, SourceOptions{URL: url, Dir: s.opts.Dir})
	if head, err := again.Head(ctx); err != nil || head != rewritten {
		t.Fatalf("reopened clone: Head %s %v, want %s", head, err, rewritten)
	}
}

// TestSourceLocalPathSubdir tracks a local repository by path and by
// file:// URL, with the config in a subdirectory.
func TestSourceLocalPathSubdir(t *testing.T) {
	ctx := context.Background()
	r := fleetRepo(t)
	first := r.commitAll("first")
	for _, url := range []string{r.dir, "file://" + r.dir} {
		s := newTestSource(t, SourceOptions{URL: url, Path: "fleet/"})
		if got := mustFetch(t, s); got != first {
			t.Fatalf("%s: head %s, want %s", url, got, first)
		}
		if s.Subdir() != "fleet" {
			t.Fatalf("Subdir %q", s.Subdir())
		}
		tree, err := s.Tree(ctx, first)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tree.Stat("README.md"); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the tree is not rooted at fleet/: README.md: %v", err)
		}
		cfg, diags, err := config.Load(config.Options{FS: tree, Path: "cl.yaml"})
		if err != nil || diags.HasErrors() || cfg.Cluster.Name != "t" {
			t.Fatalf("load: %v %v", err, diags)
		}
	}
	r.write("fleet/cl.yaml", strings.Replace(clYAML, "name: t", "name: later", 1), 0o644)
	second := r.commitAll("second")
	s := newTestSource(t, SourceOptions{URL: r.dir, Path: "fleet"})
	if got := mustFetch(t, s); got != second {
		t.Fatalf("head %s, want %s", got, second)
	}
}

// TestSourceRefusesOtherClone: a state directory holding a clone of
// another repository is refused, naming both.
func TestSourceRefusesOtherClone(t *testing.T) {
	a, _ := fleetWorkRepo(t)
	b, _ := fleetWorkRepo(t)
	dir := filepath.Join(t.TempDir(), "clone")
	mustFetch(t, newTestSource(t, SourceOptions{URL: a.dir, Dir: dir}))
	_, err := NewSource(SourceOptions{URL: b.dir, Dir: dir})
	if err == nil || !strings.Contains(err.Error(), a.dir) || !strings.Contains(err.Error(), b.dir) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("want a one-line refusal naming %s and %s, got %v", a.dir, b.dir, err)
	}

	notGit := t.TempDir()
	if err := os.WriteFile(filepath.Join(notGit, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := NewSource(SourceOptions{URL: a.dir, Dir: notGit}); err == nil || !strings.Contains(err.Error(), "holds no git clone") {
		t.Fatalf("a non-empty directory that is no clone: %v", err)
	}
}

// TestSourceFailedFirstFetchCanChangeURL: a clone that never fetched
// anything is pointed at a new URL instead of being refused.
func TestSourceFailedFirstFetchCanChangeURL(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "clone")
	bad := newTestSource(t, SourceOptions{URL: filepath.Join(t.TempDir(), "missing"), Dir: dir})
	if _, err := bad.Fetch(context.Background()); err == nil {
		t.Fatal("fetch from a missing repository succeeded")
	}
	r, head := fleetWorkRepo(t)
	if got := mustFetch(t, newTestSource(t, SourceOptions{URL: r.dir, Dir: dir})); got != head {
		t.Fatalf("head %s, want %s", got, head)
	}
}

func TestSourceFetchErrors(t *testing.T) {
	d := startGitDaemon(t)
	url := d.bare(t, "empty.git")
	s := newTestSource(t, SourceOptions{URL: url})
	if _, err := s.Fetch(context.Background()); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("empty repository: %v", err)
	}

	r, _ := fleetWorkRepo(t)
	s = newTestSource(t, SourceOptions{URL: r.dir, Branch: "release"})
	if _, err := s.Fetch(context.Background()); err == nil || !strings.Contains(err.Error(), "branch release does not exist") {
		t.Fatalf("missing branch: %v", err)
	}

	s = newTestSource(t, SourceOptions{URL: r.dir})
	mustFetch(t, s)
	if _, err := s.Tree(context.Background(), "abc123"); err == nil || !strings.Contains(err.Error(), "not a full commit SHA") {
		t.Fatalf("short SHA: %v", err)
	}
}

// TestSourceScrubsCredentials: a password in the URL appears neither in
// errors nor in the clone's config.
func TestSourceScrubsCredentials(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "clone")
	port := freePort(t) // nothing listens there
	s := newTestSource(t, SourceOptions{URL: "http://bob:hunter2@127.0.0.1:" + strconv.Itoa(port) + "/repo.git", Dir: dir})
	_, err := s.Fetch(context.Background())
	if err == nil {
		t.Fatal("fetch from a closed port succeeded")
	}
	if strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "bob:xxxxx@127.0.0.1") {
		t.Fatalf("credentials not scrubbed: %v", err)
	}
	cfg, err := os.ReadFile(filepath.Join(dir, "config"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(cfg), "hunter2") {
		t.Fatalf("the clone's config holds the password:\n%s", cfg)
	}
}

func TestNewSourceRefusesBadOptions(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		opts SourceOptions
		want string
	}{
		{SourceOptions{Dir: dir}, "no URL"},
		{SourceOptions{URL: "/x"}, "no state directory"},
		{SourceOptions{URL: "http://h/r.git", Dir: dir, TokenEnv: "T"}, "only over https"},
		{SourceOptions{URL: "git://h/r.git", Dir: dir, TokenFile: "/t"}, "for https URLs"},
		{SourceOptions{URL: "https://h/r.git", Dir: dir, SSHKeyFile: "/k"}, "for ssh URLs"},
		{SourceOptions{URL: "ssh://git@h/r.git", Dir: dir, HostKeyPolicy: "yes"}, "unknown host key policy"},
		{SourceOptions{URL: "ftp://h/r.git", Dir: dir}, "unsupported scheme"},
		{SourceOptions{URL: "/x", Dir: dir, Branch: "a b"}, "not a valid branch"},
		{SourceOptions{URL: "/x", Dir: dir, Path: "../up"}, "leaves the repository"},
	} {
		_, err := NewSource(tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: want an error with %q, got %v", tc.opts, tc.want, err)
		}
	}
}

func TestParseSourceURL(t *testing.T) {
	for _, tc := range []struct{ in, scheme, stored, user, addr string }{
		{"git@github.com:acme/fleet.git", "ssh", "git@github.com:acme/fleet.git", "git", "github.com:22"},
		{"ssh://deploy@git.example.com:2222/fleet.git", "ssh", "ssh://deploy@git.example.com:2222/fleet.git", "deploy", "git.example.com:2222"},
		{"https://x:tok@github.com/acme/fleet.git", "https", "https://x:xxxxx@github.com/acme/fleet.git", "", ""},
		{"file:///srv/fleet", "file", "/srv/fleet", "", ""},
		{"/srv/fleet", "file", "/srv/fleet", "", ""},
	} {
		u, err := parseSourceURL(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if u.scheme != tc.scheme || u.stored != tc.stored || u.user != tc.user || u.addr != tc.addr {
			t.Errorf("%s: got %+v", tc.in, u)
		}
	}
}
