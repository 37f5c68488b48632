package deploy

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testHostRelease(t *testing.T, readme string) *HostRelease {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "cl")
	os.WriteFile(bin, bytes.Repeat([]byte("binary "), 20000), 0o755) // > bigFile
	b, err := (&Binaries{Self: bin}).For("linux", "amd64")
	if err != nil {
		t.Fatal(err)
	}
	files := []File{newFile("README", ModeFile, []byte(readme)), newFile("tasks/x.sh", ModeExec, []byte("echo x\n")), newFile("l", ModeSymlink, []byte("README"))}
	rel := &Release{Version: strings.Repeat("a", 40), Commit: strings.Repeat("a", 40), Time: time.Unix(1700000000, 0), Files: files}
	hr, err := rel.ForHost(WorkerSpec{Host: "h1", Role: "web", Cluster: "c"}, b)
	if err != nil {
		t.Fatal(err)
	}
	return hr
}

// untar reads a payload (gzip members or plain tar) into name -> content.
func untar(t *testing.T, data []byte, gz bool) map[string]string {
	t.Helper()
	var r io.Reader = bytes.NewReader(data)
	if gz {
		zr, err := gzip.NewReader(r) // multistream by default
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	}
	out := map[string]string{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		if h.Typeflag == tar.TypeSymlink {
			b = []byte("-> " + h.Linkname)
		}
		out[h.Name] = string(b)
	}
}

func TestPayload(t *testing.T) {
	var cache payloadCache
	v1 := testHostRelease(t, "one\n")
	full, err := v1.payload(&cache, Diff(nil, v1.Manifest), payloadOptions{gzip: true})
	if err != nil {
		t.Fatal(err)
	}
	got := untar(t, full.bytes(), true)
	for _, p := range []string{"README", "tasks/x.sh", "bin/cl", ".celeroot/worker.yaml", ManifestPath, stageDir + "end"} {
		if _, ok := got[p]; !ok {
			t.Errorf("full payload lacks %s (has %v)", p, keys(got))
		}
	}
	if got["l"] != "-> README" || got[ManifestPath] != string(v1.Manifest.Encode()) {
		t.Errorf("link %q, manifest %q", got["l"], got[ManifestPath])
	}
	if full.Len() > 20000 {
		t.Errorf("gzip'd payload is %d bytes", full.Len())
	}

	v2 := testHostRelease(t, "two\n")
	v2.Release.Version = strings.Repeat("b", 40)
	v2.Manifest.Version = v2.Release.Version
	d := Diff(v1.Manifest, v2.Manifest)
	delta, err := v2.payload(&cache, d, payloadOptions{gzip: false})
	if err != nil {
		t.Fatal(err)
	}
	got = untar(t, delta.bytes(), false)
	if got["README"] != "two\n" || got[stageDir+"drop"] != "README\nl\n" || !strings.HasPrefix(got[stageDir+"manifest-part"], "README\t100644\t4\t") {
		t.Fatalf("delta payload: %q", got)
	}
	if _, ok := got["bin/cl"]; ok {
		t.Error("unchanged binary sent")
	}
	// The binary's member is built once and shared.
	if len(cache.m) != 1 {
		t.Errorf("%d cached members", len(cache.m))
	}
	// and not copied per host: a second host's payload carries the same bytes.
	again, err := v1.payload(&cache, Diff(nil, v1.Manifest), payloadOptions{gzip: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != len(full) || &again[0][0] != &full[0][0] {
		t.Error("the binary's member was copied into the second payload")
	}
	if got, err := io.ReadAll(again.Reader()); err != nil || !bytes.Equal(got, full.bytes()) {
		t.Errorf("Reader gives %d bytes (%v), want %d", len(got), err, full.Len())
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestParseProbe(t *testing.T) {
	m := testHostRelease(t, "x").Manifest
	out := "os=Linux\nmachine=aarch64\nsystemd=1\nhave_gzip=1\ncurrent=" + m.Version + "\npresent=abc\nunit=def\n@@manifest\n" + string(m.Encode())
	p, err := parseProbe([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if p.Arch != "arm64" || !p.Systemd || !p.Gzip || p.SHA256 || p.Current != m.Version || p.Present != "abc" || p.Unit != "def" || p.Manifest == nil {
		t.Fatalf("%+v", p)
	}
	// A manifest of another release than current is no base.
	p, _ = parseProbe([]byte("os=Linux\ncurrent=other\n@@manifest\n" + string(m.Encode())))
	if p.Manifest != nil {
		t.Fatal("manifest of another release used as base")
	}
	if _, err := parseProbe([]byte("garbage")); err == nil {
		t.Fatal("garbage accepted")
	}
}

func TestService(t *testing.T) {
	s := service{name: "celeroot-worker", target: "/opt/celeroot", host: "web1", env: "staging", systemd: true}
	unit := string(s.unit())
	for _, want := range []string{`ExecStart="/opt/celeroot/current/bin/cl" "worker" "--host" "web1" "--env" "staging"`, "Restart=always", "WantedBy=multi-user.target"} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %q:\n%s", want, unit)
		}
	}
	if got := strings.Join(s.restartArgv(), " "); got != "systemctl restart celeroot-worker" {
		t.Errorf("systemd restart: %s", got)
	}
	s.restartCommand = "systemctl restart celeroot-worker && logger done"
	if got := s.restartArgv(); got[0] != "/bin/sh" || got[2] != s.restartCommand {
		t.Errorf("restart_command: %v", got)
	}
	s.systemd, s.restartCommand = false, ""
	want := "sv-restart celeroot-worker /var/lib/celeroot /opt/celeroot/current/bin/cl /opt/celeroot/current/bin/cl worker --host web1 --env staging"
	if got := strings.Join(s.restartArgv(), " "); got != want {
		t.Errorf("supervisor restart:\n%s\nwant\n%s", got, want)
	}
	if got := systemdArgv([]string{`a b`, `"q"`, `50%`, `back\slash`}); got != `"a b" "\"q\"" "50%%" "back\\slash"` {
		t.Errorf("systemd quoting: %s", got)
	}
}

// A one-file change goes uncompressed (the host's gzip would cost more
// than it saves); a first deploy, a big file or a whole manifest of many
// files is compressed.
func TestWorthCompressing(t *testing.T) {
	file := func(p string, size int64) Entry {
		return Entry{Path: p, Mode: ModeFile, Size: size, SHA256: strings.Repeat("0", 64)}
	}
	small := []Entry{file("bin/cl", 30<<20), file("tasks/a/run.sh", 800)}
	many := make([]Entry, 0, 400)
	for i := range 400 {
		many = append(many, file(fmt.Sprintf("tasks/m/f%03d.sh", i), 10))
	}
	for _, tc := range []struct {
		name    string
		entries []Entry
		d       func(m *Manifest) Delta
		full    bool
		want    bool
	}{
		{"one file changed", small, func(m *Manifest) Delta { return Delta{Send: m.Entries[1:], Keep: m.Entries[:1]} }, false, false},
		{"first deploy", small, func(m *Manifest) Delta { return Delta{Send: m.Entries} }, false, true},
		{"one file changed, whole manifest of 400 files", many, func(m *Manifest) Delta { return Delta{Send: m.Entries[:1], Keep: m.Entries[1:]} }, true, true},
		{"one file changed, manifest part", many, func(m *Manifest) Delta { return Delta{Send: m.Entries[:1], Keep: m.Entries[1:]} }, false, false},
	} {
		m, err := NewManifest(strings.Repeat("a", 40), tc.entries)
		if err != nil {
			t.Fatal(err)
		}
		if got := worthCompressing(tc.d(m), m, tc.full); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
