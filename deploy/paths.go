package deploy

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"unicode/utf8"
)

// ErrUnsafePath is matched by the errors for paths and link targets that
// would escape a release or that the host-side tools cannot carry.
var ErrUnsafePath = errors.New("unsafe path")

// Paths a release reserves for cl itself: the binary, the manifest and the
// rendered worker configuration. A config repository must not contain them.
const (
	BinaryPath       = "bin/cl"
	WorkerConfigPath = ".celeroot/worker.yaml"
	// BinarySumPath holds bin/cl's sha256 (a line): the deploy's wrapper
	// reads it with the shell's read, to know whether the host's cl is
	// the deploying build (binaryHelperWrapper).
	BinarySumPath = ".celeroot/cl-sha256"
	reservedDir   = ".celeroot"
)

// CheckPath refuses a release path that is absolute, empty, has empty,
// "." or ".." components, is not UTF-8, or holds control characters (tab
// and newline separate manifest fields and lines).
func CheckPath(p string) error {
	bad := func(why string) error { return fmt.Errorf("%w %q: %s", ErrUnsafePath, p, why) }
	switch {
	case p == "":
		return bad("empty")
	case strings.HasPrefix(p, "/"):
		return bad("absolute")
	case !utf8.ValidString(p):
		return bad("not UTF-8")
	case strings.ContainsFunc(p, isControl):
		return bad("holds a control character")
	}
	for _, c := range strings.Split(p, "/") {
		switch c {
		case "":
			return bad("empty component")
		case ".", "..":
			return bad("holds " + c)
		}
	}
	return nil
}

// CheckSymlink refuses a link at p whose target is absolute or leaves the
// release (resolved from p's directory).
func CheckSymlink(p, target string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w: symbolic link %s -> %s %s", ErrUnsafePath, p, target, why)
	}
	switch {
	case target == "":
		return bad("is empty")
	case strings.HasPrefix(target, "/"):
		return bad("is absolute (links must stay inside the repository)")
	case !utf8.ValidString(target) || strings.ContainsFunc(target, isControl):
		return bad("holds a control character")
	}
	// ".." after a name could climb out of a directory reached through
	// another link (l -> ., then l/../x); only leading ".." are physical.
	down := false
	for _, c := range strings.Split(target, "/") {
		switch {
		case c == ".." && down:
			return bad("climbs with .. after a name (write it without the detour)")
		case c != ".." && c != "." && c != "":
			down = true
		}
	}
	resolved := path.Join(path.Dir(p), target)
	if resolved == ".." || strings.HasPrefix(resolved, "../") {
		return bad("points outside the repository")
	}
	return nil
}

// checkTreePath is CheckPath plus the paths cl reserves in a release.
func checkTreePath(p string) error {
	if err := CheckPath(p); err != nil {
		return err
	}
	if p == BinaryPath || p == reservedDir || strings.HasPrefix(p, reservedDir+"/") {
		return fmt.Errorf("%w %q: reserved for cl in every release (bin/cl, .celeroot/); rename it in the repository", ErrUnsafePath, p)
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
