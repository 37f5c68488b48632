package audit

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"
)

// Problem is one sign of tampering, at the first record it concerns.
type Problem struct {
	Seq     int64  `json:"seq"` // 0: not about one record (an unreadable mirror line)
	Message string `json:"message"`
}

// Report is what Verify found.
type Report struct {
	Records    int64       `json:"records"`              // records stored in Redis
	Head       string      `json:"head,omitempty"`       // hash of the last one
	Mirror     int         `json:"mirror_records"`       // records in this machine's mirror
	Checkpoint *Checkpoint `json:"checkpoint,omitempty"` // the checkpoint checked, if any
	Notes      []string    `json:"notes,omitempty"`      // what could not be checked, and why
	Problems   []Problem   `json:"problems,omitempty"`   // ordered by seq
}

// OK reports whether nothing is wrong.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// First is the problem at the lowest record number (nil when OK).
func (r *Report) First() *Problem {
	if len(r.Problems) == 0 {
		return nil
	}
	return &r.Problems[0]
}

func (r *Report) add(seq int64, format string, args ...any) {
	r.Problems = append(r.Problems, Problem{Seq: seq, Message: fmt.Sprintf(format, args...)})
}

// sealedRaw reports whether a stored record's hash matches its bytes and prev.
func sealedRaw(raw []byte, r Record) bool {
	c, err := canonicalize(raw, "hash")
	return err == nil && ChainHash(r.Prev, c) == r.Hash
}

// Verify checks the chain in the Store, its head, this machine's mirror
// and the signed checkpoint. A problem is in the report, not an error;
// the error is for a trail that cannot be read at all.
func (t *Trail) Verify(ctx context.Context) (*Report, error) {
	raws, err := t.Store.AuditRecords(ctx)
	if err != nil {
		return nil, err
	}
	headSeq, headHash, err := t.Store.AuditHead(ctx)
	if err != nil {
		return nil, err
	}
	rep := &Report{Records: int64(len(raws))}
	recs := t.walk(raws, rep)
	n := int64(len(raws))
	if n > 0 && recs[n-1] != nil {
		rep.Head = recs[n-1].Hash
	}
	switch {
	case headSeq > n:
		rep.add(n+1, "%s: the head says %d records were written (the tail was cut)", missing(n+1, headSeq), headSeq)
	case headSeq < n:
		rep.add(headSeq+1, "record %d onwards were not appended through the head (it says %d records): they were inserted", headSeq+1, headSeq)
	case n > 0 && recs[n-1] != nil && headHash != recs[n-1].Hash:
		rep.add(n, "record %d is not the head the trail recorded (its hash differs): it was replaced", n)
	}
	if err := t.checkMirror(recs, rep); err != nil {
		return nil, err
	}
	if err := t.checkCheckpoint(recs, rep); err != nil {
		return nil, err
	}
	slices.SortStableFunc(rep.Problems, func(a, b Problem) int {
		switch {
		case a.Seq == b.Seq:
			return 0
		case a.Seq == 0:
			return 1
		case b.Seq == 0:
			return -1
		case a.Seq < b.Seq:
			return -1
		}
		return 1
	})
	return rep, nil
}

// walk checks the chain record by record and stops at the first break
// (everything after it would fail too). recs[i] is nil where a record did
// not parse, and for every record after a break.
func (t *Trail) walk(raws [][]byte, rep *Report) []*Record {
	recs := make([]*Record, len(raws))
	prev := ""
	for i, raw := range raws {
		want := int64(i + 1)
		r, err := parseRecord(raw)
		if err != nil {
			rep.add(want, "record %d (position %d) is not a valid record: %v", want, want, err)
			return recs
		}
		switch {
		case r.Seq > want:
			rep.add(want, "record %d is missing: position %d holds record %d (a record was deleted)", want, want, r.Seq)
			return recs
		case r.Seq < want:
			rep.add(want, "position %d holds record %d: records were reordered or duplicated", want, r.Seq)
			return recs
		case !sealedRaw(raw, r):
			rep.add(want, "record %d was modified: its hash does not match its content", want)
			return recs
		case r.Prev != prev:
			rep.add(max(want-1, 1), "record %d does not chain to record %d (prev hash differs): record %d was rewritten, or record %d's prev was", want, want-1, want-1, want)
			return recs
		}
		recs[i] = &r
		prev = r.Hash
	}
	return recs
}

// checkMirror compares this machine's mirror with the stored chain: every
// record mirrored here must still be in Redis, unchanged.
func (t *Trail) checkMirror(recs []*Record, rep *Report) error {
	if t.Mirror == "" {
		rep.Notes = append(rep.Notes, "no local mirror configured")
		return nil
	}
	f, err := os.Open(t.Mirror)
	if errors.Is(err, os.ErrNotExist) {
		rep.Notes = append(rep.Notes, fmt.Sprintf("no local mirror at %s (this machine wrote no record, or the file was moved)", t.Mirror))
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the audit mirror: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			continue
		}
		m, err := parseRecord(raw)
		if err != nil || m.Seq < 1 {
			rep.add(0, "line %d of the mirror %s is not a valid record", line, t.Mirror)
			continue
		}
		rep.Mirror++
		switch {
		case !sealedRaw(raw, m):
			rep.add(m.Seq, "the mirror's copy of record %d (%s line %d) was modified", m.Seq, t.Mirror, line)
		case m.Seq > int64(len(recs)):
			rep.add(m.Seq, "record %d is missing from Redis but the local mirror %s has it: the trail was cut or replaced", m.Seq, t.Mirror)
		case recs[m.Seq-1] != nil && recs[m.Seq-1].Hash != m.Hash:
			rep.add(m.Seq, "record %d in Redis differs from the local mirror's copy (%s line %d): it was rewritten", m.Seq, t.Mirror, line)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read the audit mirror %s: %w", t.Mirror, err)
	}
	return nil
}

// checkCheckpoint verifies the signed checkpoint and that Redis still holds
// the record it pins, unchanged.
func (t *Trail) checkCheckpoint(recs []*Record, rep *Report) error {
	pub := t.Public
	if pub == nil && t.Signer != nil {
		pub = t.Signer.PublicKey()
	}
	if pub == nil {
		rep.Notes = append(rep.Notes, "no audit.signing_key: no signed checkpoint to check (a cut tail is detected only against the local mirror)")
		return nil
	}
	if t.Mirror == "" {
		return nil
	}
	path := CheckpointPath(t.Mirror)
	c, err := readCheckpoint(path)
	if err != nil {
		rep.add(0, "%v", err)
		return nil
	}
	if c == nil {
		rep.Notes = append(rep.Notes, fmt.Sprintf("no checkpoint at %s yet (written when this machine appends)", path))
		return nil
	}
	rep.Checkpoint = c
	at := c.Time.Format(time.RFC3339)
	n := int64(len(recs))
	if err := c.check(pub); err != nil {
		rep.add(max(c.Seq, 1), "the checkpoint %s (record %d, %s) is not valid: %v: the checkpoint, or the chain with it, was replaced", path, c.Seq, at, err)
		return nil
	}
	switch {
	case c.Seq > n:
		rep.add(n+1, "%s: the signed checkpoint of %s covers record %d (the tail was cut)", missing(n+1, c.Seq), at, c.Seq)
	case c.Seq >= 1 && recs[c.Seq-1] != nil && recs[c.Seq-1].Hash != c.Hash:
		rep.add(c.Seq, "record %d does not match the signed checkpoint of %s: the chain up to it was rewritten or replaced", c.Seq, at)
	}
	return nil
}

// missing says which records are missing: "record 4 is missing" or
// "records 4–9 are missing".
func missing(from, to int64) string {
	if from == to {
		return fmt.Sprintf("record %d is missing", from)
	}
	return fmt.Sprintf("records %d–%d are missing", from, to)
}
