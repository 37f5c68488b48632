package deploy

import (
	"reflect"
	"strings"
	"testing"
)

func entry(p string, mode Mode, content string) Entry {
	f := newFile(p, mode, []byte(content))
	return f.Entry
}

func manifest(t *testing.T, v string, es ...Entry) *Manifest {
	t.Helper()
	m, err := NewManifest(v, es)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestManifestRoundTrip(t *testing.T) {
	m := manifest(t, "abc", entry("z.sh", ModeExec, "#!/bin/sh\n"), entry("a b/c.txt", ModeFile, "x"), entry("link", ModeSymlink, "a b/c.txt"))
	enc := m.Encode()
	if !strings.HasPrefix(string(enc), "celeroot-manifest v1 abc\na b/c.txt\t100644\t1\t") {
		t.Fatalf("encoding:\n%s", enc)
	}
	back, err := ParseManifest(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, m) || back.Hash() != m.Hash() {
		t.Fatalf("round trip:\n%+v\n%+v", back, m)
	}
}

func TestParseManifestErrors(t *testing.T) {
	sha := strings.Repeat("a", 64)
	for name, in := range map[string]string{
		"no header":     "x\t100644\t1\t" + sha + "\n",
		"bad mode":      "celeroot-manifest v1 v\nx\t100600\t1\t" + sha + "\n",
		"bad size":      "celeroot-manifest v1 v\nx\t100644\t-1\t" + sha + "\n",
		"short sha":     "celeroot-manifest v1 v\nx\t100644\t1\tabc\n",
		"link target":   "celeroot-manifest v1 v\nx\t100644\t1\t" + sha + "\ty\n",
		"escaping path": "celeroot-manifest v1 v\n../x\t100644\t1\t" + sha + "\n",
		"duplicate":     "celeroot-manifest v1 v\nx\t100644\t1\t" + sha + "\nx\t100644\t1\t" + sha + "\n",
	} {
		if _, err := ParseManifest([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestDiff(t *testing.T) {
	base := manifest(t, "v1",
		entry("same", ModeFile, "1"), entry("changed", ModeFile, "old"), entry("gone", ModeFile, "g"),
		entry("chmod", ModeFile, "c"), entry("link", ModeSymlink, "same"))
	next := manifest(t, "v2",
		entry("same", ModeFile, "1"), entry("changed", ModeFile, "new"), entry("new", ModeFile, "n"),
		entry("chmod", ModeExec, "c"), entry("link", ModeSymlink, "same"))
	d := Diff(base, next)
	paths := func(es []Entry) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.Path)
		}
		return out
	}
	if got := paths(d.Keep); !reflect.DeepEqual(got, []string{"same"}) {
		t.Errorf("keep %v", got)
	}
	if got := paths(d.Send); !reflect.DeepEqual(got, []string{"changed", "chmod", "link", "new"}) {
		t.Errorf("send %v", got)
	}
	if !reflect.DeepEqual(d.Drop, []string{"changed", "chmod", "gone", "link"}) || !reflect.DeepEqual(d.Removed, []string{"gone"}) {
		t.Errorf("drop %v removed %v", d.Drop, d.Removed)
	}
	if d.SendBytes() != 3+1+4+1 {
		t.Errorf("send bytes %d", d.SendBytes())
	}
	if full := Diff(nil, next); len(full.Send) != 5 || len(full.Keep) != 0 {
		t.Errorf("no base: %+v", full)
	}
}
