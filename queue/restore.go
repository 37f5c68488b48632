package queue

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// RestoreResult describes a restore.
type RestoreResult struct {
	File      string    `json:"file"`
	Namespace string    `json:"namespace"`
	Created   time.Time `json:"created"`
	Keys      int       `json:"keys"`
}

// ErrBackupRefused marks a snapshot file that Restore refused before
// writing anything: it is truncated, corrupt, of another namespace, or
// holds a key outside the namespace's prefix.
var ErrBackupRefused = errors.New("backup refused")

// restoreBatch is how many keys one RESTORE pipeline carries.
const restoreBatch = 500

// Restore loads a snapshot into q's namespace with RESTORE … REPLACE: keys
// in the file overwrite keys of the same name, keys not in it are left
// alone, expiring keys get the time they had left when the snapshot was
// taken. The snapshot must be of the same namespace, and the server must
// accept the DUMP format of the one it came from (same or newer Redis).
// Stop the beats and workers of the namespace first.
//
// The whole file is read and checked before the first write: its header,
// every line, every key inside q's prefix (a running beat's lease and
// member records excepted, as Snapshot skips them), its trailer and key
// count, the gzip checksum. A file that fails any check is refused with an
// error wrapping ErrBackupRefused and nothing is written. The second pass
// that writes checks every key again, so no key outside the namespace is
// written even if the file changes in between.
func (q *Queue) Restore(ctx context.Context, file string) (*RestoreResult, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("open backup: %w", err)
	}
	defer f.Close()
	v := backupValidator{prefix: q.Keys().Prefix(), beat: q.Beat().k, ns: q.Namespace().String()}
	h, n, err := v.scan(f, func(backupLine) error { return nil })
	if err != nil {
		return nil, fmt.Errorf("restore backup %s: %w: %w; nothing was restored", file, ErrBackupRefused, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("restore backup %s: rewind: %w; nothing was restored", file, err)
	}
	res := &RestoreResult{File: file, Namespace: h.Namespace, Created: h.Created}
	w := restoreWriter{ctx: ctx, rdb: q.rdb, res: res}
	if _, _, err := v.scan(f, w.add); err != nil {
		return res, fmt.Errorf("restore backup %s: %w (%d keys restored before it)", file, err, res.Keys)
	}
	if err := w.flush(); err != nil {
		return res, fmt.Errorf("restore backup %s: %w (%d keys restored before it)", file, err, res.Keys)
	}
	if res.Keys != n {
		return res, fmt.Errorf("restore backup %s: the file changed during the restore (%d keys checked, %d restored): restore it again from an unchanging copy", file, n, res.Keys)
	}
	return res, nil
}

// backupValidator checks a snapshot file against one namespace.
type backupValidator struct {
	prefix string
	beat   beatKeys
	ns     string
}

// scan reads a whole snapshot from r, checks it and calls each for every
// key line in order. It returns the header and the key count of the
// trailer, or the first problem found (each refers to its line).
func (v backupValidator) scan(r io.Reader, each func(backupLine) error) (backupHeader, int, error) {
	var h backupHeader
	zr, err := gzip.NewReader(r)
	if err != nil {
		return h, 0, fmt.Errorf("not a gzip file (%v): pass a .clbackup.gz file written by cl beat backup", err)
	}
	br := bufio.NewReaderSize(zr, 1<<20)
	if err := readJSONLine(br, &h); err != nil || h.Format != backupFormat {
		if err == nil {
			err = fmt.Errorf("format %q", h.Format)
		}
		return h, 0, fmt.Errorf("not a %s file (%v): pass a .clbackup.gz file written by cl beat backup", backupFormat, err)
	}
	if h.Prefix != v.prefix {
		return h, 0, fmt.Errorf("it is of namespace %s, not %s: restore it with the configuration (and --env) of that namespace", h.Namespace, v.ns)
	}
	n := 0
	for lineNo := 2; ; lineNo++ {
		var l backupLine
		if err := readJSONLine(br, &l); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return h, n, fmt.Errorf("the file ends before its trailer at line %d: it is truncated, take or pick a complete backup", lineNo)
			}
			return h, n, fmt.Errorf("line %d: %w: the file is corrupt, pick another backup", lineNo, err)
		}
		if l.End {
			if l.Keys != n {
				return h, n, fmt.Errorf("the trailer says %d keys but the file has %d: it is corrupt, pick another backup", l.Keys, n)
			}
			if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
				if err == nil {
					return h, n, fmt.Errorf("data after the trailer at line %d: the file is corrupt, pick another backup", lineNo)
				}
				return h, n, fmt.Errorf("after the trailer: %w: the file is corrupt, pick another backup", err)
			}
			return h, n, nil
		}
		if err := v.checkKey(l); err != nil {
			return h, n, fmt.Errorf("line %d: %w", lineNo, err)
		}
		n++
		if err := each(l); err != nil {
			return h, n, err
		}
	}
}

func (v backupValidator) checkKey(l backupLine) error {
	switch {
	case !strings.HasPrefix(l.Key, v.prefix) || l.Key == v.prefix:
		return fmt.Errorf("key %q is outside namespace %s (keys start with %q): the file was altered, pick a backup written by cl beat backup", l.Key, v.ns, v.prefix)
	case v.beat.volatile(l.Key):
		return fmt.Errorf("key %q is a running beat's lease or member record, which backups never hold: the file was altered, pick a backup written by cl beat backup", l.Key)
	case len(l.Value) == 0:
		return fmt.Errorf("key %q has no DUMP payload: the file is corrupt, pick another backup", l.Key)
	case l.PTTL < 0:
		return fmt.Errorf("key %q has a negative time to live: the file is corrupt, pick another backup", l.Key)
	}
	return nil
}

// restoreWriter RESTOREs keys in pipelines of restoreBatch.
type restoreWriter struct {
	ctx   context.Context
	rdb   redis.UniversalClient
	res   *RestoreResult
	batch []backupLine
}

func (w *restoreWriter) add(l backupLine) error {
	w.batch = append(w.batch, l)
	if len(w.batch) < restoreBatch {
		return nil
	}
	return w.flush()
}

func (w *restoreWriter) flush() error {
	if len(w.batch) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(w.ctx, 30*time.Second)
	defer cancel()
	pipe := w.rdb.Pipeline()
	for _, l := range w.batch {
		pipe.RestoreReplace(ctx, l.Key, time.Duration(l.PTTL)*time.Millisecond, string(l.Value))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("restore %d keys (from %s): %w", len(w.batch), w.batch[0].Key, err)
	}
	w.res.Keys += len(w.batch)
	w.batch = w.batch[:0]
	return nil
}

// readJSONLine decodes one newline-terminated JSON line; a line cut off
// before its newline is io.ErrUnexpectedEOF.
func readJSONLine(r *bufio.Reader, v any) error {
	line, err := r.ReadBytes('\n')
	if err != nil {
		if errors.Is(err, io.EOF) && len(line) > 0 {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	if err := json.Unmarshal(line, v); err != nil {
		return fmt.Errorf("decode line: %w", err)
	}
	return nil
}
