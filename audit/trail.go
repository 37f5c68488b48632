package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/crypto/ssh"
)

// Store keeps the chain (implemented by *queue.Queue on Redis).
type Store interface {
	// AuditHead returns the seq and hash of the last record (0, "" when empty).
	AuditHead(ctx context.Context) (int64, string, error)
	// AuditAppend stores record as number seq with hash if the head is
	// still (prevSeq, prevHash); false means it moved and nothing was written.
	AuditAppend(ctx context.Context, prevSeq int64, prevHash string, seq int64, hash string, record []byte) (bool, error)
	// AuditRecords returns every stored record, in order.
	AuditRecords(ctx context.Context) ([][]byte, error)
}

// Trail is the audit trail of one cluster/env: the chain in a Store, this
// machine's mirror and checkpoint files.
type Trail struct {
	Store Store
	// Mirror is the local JSONL file this process appends its records to
	// ("" for none). The checkpoint lives next to it (CheckpointPath).
	Mirror string
	// Signer signs checkpoints (nil: none are written).
	Signer ssh.Signer
	// Public checks checkpoints (nil: Signer's public key, or no check).
	Public ssh.PublicKey
	// Every writes a checkpoint after every Every-th record (0 or 1: each).
	Every int
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// ErrBusy: the head kept moving under Append (many concurrent appenders).
var ErrBusy = errors.New("the audit head kept moving")

// maxAttempts bounds Append's compare-and-set retries.
const maxAttempts = 50

// CheckpointPath is where the checkpoint of the trail mirrored to mirror lives.
func CheckpointPath(mirror string) string { return mirror + ".checkpoint" }

// Append adds r (its Actor, Action, Targets, SHA and Result; Seq, Time,
// Prev and Hash are filled in) at the head of the chain, mirrors it and,
// when due, signs a checkpoint. It returns the record as stored.
func (t *Trail) Append(ctx context.Context, r Record) (Record, error) {
	now := time.Now
	if t.Now != nil {
		now = t.Now
	}
	for attempt := 0; attempt < maxAttempts; attempt++ {
		seq, head, err := t.Store.AuditHead(ctx)
		if err != nil {
			return Record{}, err
		}
		r.Seq, r.Prev = seq+1, head
		r.Time = now().UTC().Truncate(time.Microsecond)
		if err := seal(&r); err != nil {
			return Record{}, err
		}
		raw, err := json.Marshal(r)
		if err != nil {
			return Record{}, err
		}
		ok, err := t.Store.AuditAppend(ctx, seq, head, r.Seq, r.Hash, raw)
		if err != nil {
			return Record{}, err
		}
		if !ok { // another appender went first: build on its record
			if err := sleep(ctx, time.Duration(rand.IntN(2000*(1+min(attempt, 10))))*time.Microsecond); err != nil {
				return Record{}, err
			}
			continue
		}
		if err := t.mirror(raw); err != nil {
			return r, err
		}
		if t.Signer != nil && (t.Every <= 1 || r.Seq%int64(t.Every) == 0) {
			if err := t.checkpoint(r); err != nil {
				return r, err
			}
		}
		return r, nil
	}
	return Record{}, fmt.Errorf("append audit record: %w after %d attempts", ErrBusy, maxAttempts)
}

func sleep(ctx context.Context, d time.Duration) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

// mirror appends one line to the mirror file (0600; its directory 0700).
func (t *Trail) mirror(raw []byte) error {
	if t.Mirror == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(t.Mirror), 0o700); err != nil {
		return fmt.Errorf("audit mirror: %w", err)
	}
	f, err := os.OpenFile(t.Mirror, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("audit mirror: %w", err)
	}
	// One write per line: O_APPEND keeps concurrent local appenders' lines whole.
	_, err = f.Write(append(raw, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("audit mirror %s: %w", t.Mirror, err)
	}
	return nil
}

// Records returns the chain as stored, parsed; a record that does not
// parse is an error naming its position (cl audit verify says more).
func (t *Trail) Records(ctx context.Context) ([]Record, error) {
	raws, err := t.Store.AuditRecords(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Record, 0, len(raws))
	for i, raw := range raws {
		r, err := parseRecord(raw)
		if err != nil {
			return nil, fmt.Errorf("audit record at position %d is not a valid record (%v): run cl audit verify", i+1, err)
		}
		out = append(out, r)
	}
	return out, nil
}
