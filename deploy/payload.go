package deploy

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
)

// The payload of a stage: a tar stream of the files to send plus control
// files under .celeroot/stage/ (drop: base paths not carried over;
// manifest-part: the manifest lines of the sent files, merged with the
// kept ones on the host; end: written last, so the host knows the stream
// was complete). Compressed, it is a series of gzip members (gzip -d
// reads them as one stream): files of 64 KiB and more (bin/cl) each get a
// member of their own, compressed once per deploy and shared by every host
// that needs them; everything else goes into one last member.

const (
	stageDir      = ".celeroot/stage/"
	bigFile       = 64 << 10
	tarBlock      = 512
	gzipLevelBig  = gzip.BestSpeed
	gzipLevelRest = gzip.DefaultCompression
)

// payloadCache holds compressed tar members of big files, by content.
type payloadCache struct {
	mu sync.Mutex
	m  map[string]*cachedMember
}

type cachedMember struct {
	once sync.Once
	data []byte
	err  error
}

func (c *payloadCache) get(key string, build func() ([]byte, error)) ([]byte, error) {
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]*cachedMember{}
	}
	cm, ok := c.m[key]
	if !ok {
		cm = &cachedMember{}
		c.m[key] = cm
	}
	c.mu.Unlock()
	cm.once.Do(func() { cm.data, cm.err = build() })
	return cm.data, cm.err
}

// payloadOptions say how to encode a stage's payload.
type payloadOptions struct {
	gzip         bool
	fullManifest bool // send .celeroot/manifest instead of manifest-part
}

// payloadParts is a stage's payload as the chunks it is made of, sent one
// after the other. The big members are the cache's own slices, shared by
// every host: a first deploy to N hosts holds bin/cl's compressed member
// once, not N times.
type payloadParts [][]byte

// Len is the payload's size in bytes.
func (p payloadParts) Len() int {
	n := 0
	for _, c := range p {
		n += len(c)
	}
	return n
}

// Reader reads the payload without copying it.
func (p payloadParts) Reader() io.Reader {
	rs := make([]io.Reader, len(p))
	for i, c := range p {
		rs[i] = bytes.NewReader(c)
	}
	return io.MultiReader(rs...)
}

// bytes joins the parts (tests).
func (p payloadParts) bytes() []byte { return bytes.Join(p, nil) }

// payload builds the stage input for delta d of hr.
func (hr *HostRelease) payload(cache *payloadCache, d Delta, o payloadOptions) (payloadParts, error) {
	var out payloadParts
	var rest []Entry
	for _, e := range d.Send {
		if e.Size < bigFile || e.Mode.IsSymlink() {
			rest = append(rest, e)
			continue
		}
		key := fmt.Sprintf("%s|%s|%s|%d|%v", e.Path, e.Mode, e.SHA256, hr.Time.Unix(), o.gzip)
		m, err := cache.get(key, func() ([]byte, error) { return hr.member(e, o.gzip, gzipLevelBig) })
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	for _, e := range rest {
		if err := hr.writeEntry(tw, e); err != nil {
			return nil, err
		}
	}
	for _, c := range hr.controlFiles(d, o) {
		if err := writeTarFile(tw, c.path, ModeFile.Perm(), hr, c.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if !o.gzip {
		return append(out, tb.Bytes()), nil
	}
	var zb bytes.Buffer
	if err := gzipTo(&zb, tb.Bytes(), gzipLevelRest); err != nil {
		return nil, err
	}
	return append(out, zb.Bytes()), nil
}

type controlFile struct {
	path string
	data []byte
}

func (hr *HostRelease) controlFiles(d Delta, o payloadOptions) []controlFile {
	var cs []controlFile
	if len(d.Drop) > 0 {
		cs = append(cs, controlFile{stageDir + "drop", []byte(strings.Join(d.Drop, "\n") + "\n")})
	}
	if o.fullManifest || len(d.Keep) == 0 {
		cs = append(cs, controlFile{ManifestPath, hr.Manifest.Encode()})
	} else {
		var part strings.Builder
		for _, e := range d.Send {
			part.WriteString(e.line() + "\n")
		}
		cs = append(cs, controlFile{stageDir + "manifest-part", []byte(part.String())})
	}
	cs = append(cs, controlFile{BinarySumPath, []byte(hr.Binary.SHA256 + "\n")})
	return append(cs, controlFile{stageDir + "end", nil})
}

// member renders one file as a tar member (header and padded content),
// gzip'd when gz: the tar is written through the compressor, so a big
// file is held once, compressed.
func (hr *HostRelease) member(e Entry, gz bool, level int) ([]byte, error) {
	var out bytes.Buffer
	var w io.Writer = &out
	var zw *gzip.Writer
	if gz {
		var err error
		if zw, err = gzip.NewWriterLevel(&out, level); err != nil {
			return nil, err
		}
		w = zw
	}
	tw := tar.NewWriter(w)
	if err := hr.writeEntry(tw, e); err != nil {
		return nil, err
	}
	if err := tw.Flush(); err != nil {
		return nil, err
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return nil, err
		}
	}
	return out.Bytes(), nil
}

func (hr *HostRelease) writeEntry(tw *tar.Writer, e Entry) error {
	if e.Mode.IsSymlink() {
		h := &tar.Header{Typeflag: tar.TypeSymlink, Name: e.Path, Linkname: e.Target, Mode: 0o777, ModTime: hr.Time.Truncate(1e9)}
		return tw.WriteHeader(h)
	}
	switch e.Path {
	case BinaryPath:
		return hr.writeBinary(tw, e)
	case WorkerConfigPath:
		return writeTarFile(tw, e.Path, e.Mode.Perm(), hr, hr.workerYAML)
	case CredentialsPath:
		return writeTarFile(tw, e.Path, e.Mode.Perm(), hr, hr.credentials)
	}
	f, ok := hr.file(e.Path)
	if !ok {
		return fmt.Errorf("payload: %s is not in release %s", e.Path, hr.Short())
	}
	return writeTarFile(tw, e.Path, e.Mode.Perm(), hr, f.Data)
}

func (hr *HostRelease) writeBinary(tw *tar.Writer, e Entry) error {
	f, err := os.Open(hr.Binary.Path)
	if err != nil {
		return fmt.Errorf("read cl binary: %w", err)
	}
	defer f.Close()
	h := &tar.Header{Typeflag: tar.TypeReg, Name: e.Path, Mode: int64(ModeExec.Perm()), Size: e.Size, ModTime: hr.Time.Truncate(1e9)}
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	if n, err := io.Copy(tw, f); err != nil || n != e.Size {
		return fmt.Errorf("read cl binary %s: %d of %d bytes: %v (did it change during the deploy?)", hr.Binary.Path, n, e.Size, err)
	}
	return nil
}

func writeTarFile(tw *tar.Writer, name string, perm os.FileMode, hr *HostRelease, data []byte) error {
	h := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: int64(perm), Size: int64(len(data)), ModTime: hr.Time.Truncate(1e9)}
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}

func gzipTo(w io.Writer, data []byte, level int) error {
	zw, err := gzip.NewWriterLevel(w, level)
	if err != nil {
		return err
	}
	if _, err := zw.Write(data); err != nil {
		return err
	}
	return zw.Close()
}
