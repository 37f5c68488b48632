package deploy

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"syscall"
	"testing"
)

// A release that does not fit on the host's disk fails with one line
// naming the host, the directory and the free space; no staging
// directory is left behind. The disk is a 1 MiB tmpfs (mounting needs
// root).
func TestLocalDeployDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	s := newLocal(t, "")
	if err := os.MkdirAll(s.target, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", s.target, "tmpfs", 0, "size=1m,mode=0700"); err != nil {
		t.Fatalf("mount a tmpfs on %s: %v", s.target, err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(s.target, syscall.MNT_DETACH) })
	big := make([]byte, 2<<20) // random: gzip cannot shrink it below the disk
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	s.repo.write("tasks/a/big.bin", hex.EncodeToString(big[:1<<20])+string(big[1<<20:]))
	s.repo.commit("a release bigger than the disk")
	rep, err := s.deploy(t)
	if err == nil {
		t.Fatal("deploy onto a full disk succeeded")
	}
	h := rep.Hosts[0]
	t.Log(h.Error)
	if strings.Contains(h.Error, "\n") {
		t.Errorf("error is more than one line:\n%s", h.Error)
	}
	for _, want := range []string{h.Host, "no space left in " + s.target + "/releases", "MiB free", "deploy again"} {
		if !strings.Contains(h.Error, want) {
			t.Errorf("error %q does not say %q", h.Error, want)
		}
	}
	left, _ := os.ReadDir(s.target + "/releases")
	for _, e := range left {
		if strings.HasPrefix(e.Name(), ".stage-") {
			t.Errorf("staging directory %s left behind", e.Name())
		}
	}
}
