package deploy

import (
	"errors"
	"testing"
)

func TestCheckPath(t *testing.T) {
	for _, p := range []string{"a", "a/b.sh", "tasks/x y/z", ".hidden", "a/..b", "ü"} {
		if err := CheckPath(p); err != nil {
			t.Errorf("%q refused: %v", p, err)
		}
	}
	for _, p := range []string{"", "/etc/passwd", "../x", "a/../../x", "a//b", "./a", "a/.", "tab\there", "new\nline", "\xff"} {
		if err := CheckPath(p); !errors.Is(err, ErrUnsafePath) {
			t.Errorf("%q accepted (%v)", p, err)
		}
	}
	for _, p := range []string{"bin/cl", ".celeroot", ".celeroot/manifest"} {
		if err := checkTreePath(p); !errors.Is(err, ErrUnsafePath) {
			t.Errorf("reserved %q accepted", p)
		}
	}
	if err := checkTreePath("bin/other"); err != nil {
		t.Errorf("bin/other refused: %v", err)
	}
}

func TestCheckSymlink(t *testing.T) {
	ok := [][2]string{{"a", "b"}, {"d/a", "../b"}, {"d/e/a", "../../b"}, {"a", "./b"}, {"d/a", "x/y"}, {"a", "."}}
	for _, c := range ok {
		if err := CheckSymlink(c[0], c[1]); err != nil {
			t.Errorf("%s -> %s refused: %v", c[0], c[1], err)
		}
	}
	bad := [][2]string{{"a", "/etc"}, {"a", ".."}, {"d/a", "../../x"}, {"a", "l/../x"}, {"a", ""}, {"d/a", "x/../../y"}}
	for _, c := range bad {
		if err := CheckSymlink(c[0], c[1]); !errors.Is(err, ErrUnsafePath) {
			t.Errorf("%s -> %s accepted (%v)", c[0], c[1], err)
		}
	}
}
