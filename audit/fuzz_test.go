package audit

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// FuzzRecord: any record cl builds — whatever its strings hold (quotes,
// HTML, invalid UTF-8, control bytes) — verifies after a round trip
// through its stored JSON, and canonicalization is stable. Run with
// go test ./audit -fuzz FuzzRecord; the seeds run in every go test.
func FuzzRecord(f *testing.F) {
	f.Add("host.update", "host:web1", "alice", int64(1), "")
	f.Add("<script>&", "=cmd|' /C calc'!A0", "\x00\xff\u2028", int64(1<<53+1), "ab")
	f.Add("", "", "", int64(0), "\"")
	f.Fuzz(func(t *testing.T, action, target, user string, seq int64, prev string) {
		r := Record{Seq: seq, Time: time.Unix(0, seq).UTC(), Actor: Actor{Via: "cli", User: user}, Action: action,
			Targets: []string{target}, Result: ResultOK, Prev: prev}
		if err := seal(&r); err != nil {
			t.Fatal(err)
		}
		raw, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		back, err := parseRecord(raw)
		if err != nil {
			t.Fatalf("stored record does not parse: %v\n%s", err, raw)
		}
		if !sealedRaw(raw, back) {
			t.Fatalf("a record cl sealed does not verify:\n%s", raw)
		}
		c1, err := canonicalize(raw, "hash")
		if err != nil {
			t.Fatal(err)
		}
		c2, err := canonicalize(c1, "hash")
		if err != nil || !bytes.Equal(c1, c2) {
			t.Fatalf("canonical form is not stable:\n%s\n%s", c1, c2)
		}
		// Changing the action (to anything else) breaks the seal.
		other := bytes.Replace(raw, []byte(`"action":`), []byte(`"action":"x","was":`), 1)
		if o, err := parseRecord(other); err == nil && sealedRaw(other, o) {
			t.Fatalf("a changed record still verifies:\n%s", other)
		}
	})
}
