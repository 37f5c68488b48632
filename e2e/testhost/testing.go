package testhost

import (
	"context"
	"testing"
	"time"
)

// New starts an n-host fleet for a test and closes it in t.Cleanup. It skips
// the test only when this machine cannot run test hosts at all (not root,
// no /usr/sbin/sshd, no ip), saying what to install; any other problem fails
// the test.
func New(t testing.TB, n int, opts ...Option) *Fleet {
	t.Helper()
	if reason := SkipReason(); reason != "" {
		t.Skip(reason)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f, err := Start(ctx, n, opts...)
	if err != nil {
		t.Fatalf("start %d test hosts: %v", n, err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Errorf("close test hosts: %v", err)
		}
	})
	return f
}
