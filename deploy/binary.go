package deploy

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
)

// ErrNoBinary is matched when no cl binary exists for a host's platform.
var ErrNoBinary = errors.New("no cl binary for the platform")

// Binary is the cl executable deployed as bin/cl.
type Binary struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Binaries finds the cl binary for a platform:
//
//  1. $CL_DIST/cl_<os>_<arch>/cl, when the CL_DIST environment variable
//     names a directory (Dist);
//  2. the running executable, when the platform is its own;
//  3. dist/cl_<os>_<arch>/cl under the current directory, as `make dist`
//     and goreleaser write it.
//
// Results are cached; a Binaries is safe for concurrent use.
type Binaries struct {
	// Dist overrides $CL_DIST.
	Dist string
	// Self overrides the running executable's path (tests).
	Self string

	mu     sync.Mutex
	cache  map[string]Binary // by platform
	byPath map[string]Binary
	helper *string // HelperSum's answer, once known
}

// hash hashes the file at p once; b.mu is held.
func (b *Binaries) hash(p string) (Binary, error) {
	if bin, ok := b.byPath[p]; ok {
		return bin, nil
	}
	bin, err := hashBinary(p)
	if err != nil {
		return Binary{}, err
	}
	if b.byPath == nil {
		b.byPath = map[string]Binary{}
	}
	b.byPath[p] = bin
	return bin, nil
}

// HelperSum is the sha256 of the running executable, which hosts whose
// current release has this very build as bin/cl run the deploy's
// probestage with (HostLib, see helperWrapper). It is "" — the shell
// library then runs everywhere — when cl does not run on Linux, when Self
// overrides the executable (tests' stand-ins cannot do it), when the
// environment has CL_HOST_HELPER=0, or when the executable cannot be read.
func (b *Binaries) HelperSum() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.helper != nil {
		return *b.helper
	}
	sum := ""
	defer func() { b.helper = &sum }()
	if runtime.GOOS != "linux" || b.Self != "" || os.Getenv("CL_HOST_HELPER") == "0" {
		return ""
	}
	self, err := os.Executable()
	if err != nil {
		return ""
	}
	if bin, err := b.hash(self); err == nil { // For ships it too: hashed once
		sum = bin.SHA256
	}
	return sum
}

// For returns the binary for goos/goarch ("linux", "amd64").
func (b *Binaries) For(goos, goarch string) (Binary, error) {
	key := goos + "/" + goarch
	b.mu.Lock()
	defer b.mu.Unlock()
	if bin, ok := b.cache[key]; ok {
		return bin, nil
	}
	p, err := b.find(goos, goarch)
	if err != nil {
		return Binary{}, err
	}
	bin, err := b.hash(p)
	if err != nil {
		return Binary{}, err
	}
	if b.cache == nil {
		b.cache = map[string]Binary{}
	}
	b.cache[key] = bin
	return bin, nil
}

func (b *Binaries) find(goos, goarch string) (string, error) {
	sub := filepath.Join("cl_"+goos+"_"+goarch, "cl")
	dist := b.Dist
	if dist == "" {
		dist = os.Getenv("CL_DIST")
	}
	if dist != "" {
		if p := filepath.Join(dist, sub); isFile(p) {
			return p, nil
		}
	}
	if goos == runtime.GOOS && goarch == runtime.GOARCH {
		self := b.Self
		if self == "" {
			var err error
			if self, err = os.Executable(); err != nil {
				return "", fmt.Errorf("find the cl binary for %s/%s: %w", goos, goarch, err)
			}
		}
		return self, nil
	}
	if p := filepath.Join("dist", sub); isFile(p) {
		return p, nil
	}
	where := filepath.Join("dist", sub)
	if dist != "" {
		where = filepath.Join(dist, sub) + " or " + where
	}
	return "", fmt.Errorf("%w %s/%s: build it with `make dist` (writes %s) and run cl from that directory, or set CL_DIST to the dist directory",
		ErrNoBinary, goos, goarch, where)
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

func hashBinary(p string) (Binary, error) {
	f, err := os.Open(p)
	if err != nil {
		return Binary{}, fmt.Errorf("read cl binary %s: %w", p, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return Binary{}, fmt.Errorf("read cl binary %s: %w", p, err)
	}
	return Binary{Path: p, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}
