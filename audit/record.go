package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Result is how an audited action ended.
type Result string

// Results.
const (
	ResultOK      Result = "ok"      // the action succeeded
	ResultFailed  Result = "failed"  // the action ran and failed (non-zero exit)
	ResultStarted Result = "started" // written before the action in fail-closed mode
)

// Actor is who acted: an operator at the CLI, or the agent applying a commit.
type Actor struct {
	Via       string `json:"via"`                 // "cli" or "agent"
	User      string `json:"user,omitempty"`      // OS user name
	Machine   string `json:"machine,omitempty"`   // host name of the machine cl ran on
	Key       string `json:"key,omitempty"`       // SHA256 fingerprint of the SSH key cl uses (ssh.default_key)
	Author    string `json:"author,omitempty"`    // agent: the commit's author ("Name <email>")
	Committer string `json:"committer,omitempty"` // agent: the commit's committer
	Delivery  string `json:"delivery,omitempty"`  // agent: the webhook delivery id that triggered the sync, if any
}

// String is the actor in one short phrase for tables.
func (a Actor) String() string {
	switch {
	case a.Via == "agent" && a.Author != "":
		return "agent (" + a.Author + ")"
	case a.User != "" && a.Machine != "":
		return a.User + "@" + a.Machine
	case a.User != "":
		return a.User
	}
	return a.Via
}

// Record is one audit record.
type Record struct {
	Seq     int64     `json:"seq"`
	Time    time.Time `json:"time"`
	Actor   Actor     `json:"actor"`
	Action  string    `json:"action"`
	Targets []string  `json:"targets,omitempty"`
	SHA     string    `json:"sha,omitempty"`
	Result  Result    `json:"result"`
	Prev    string    `json:"prev"`
	Hash    string    `json:"hash"`
}

// Canonical is the record's canonical JSON without its hash: object keys
// sorted, no white space, numbers as written. It is what the hash covers.
func Canonical(r Record) ([]byte, error) {
	raw, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	return canonicalize(raw, "hash")
}

// canonicalize re-encodes the JSON object raw with sorted keys (Go's
// encoding of maps), dropping the top-level key drop.
func canonicalize(raw []byte, drop string) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	delete(m, drop)
	return json.Marshal(m)
}

// ChainHash is h(i) = hex(SHA-256(prev || canonical)).
func ChainHash(prev string, canonical []byte) string {
	h := sha256.New()
	h.Write([]byte(prev))
	h.Write(canonical)
	return hex.EncodeToString(h.Sum(nil))
}

// seal sets r.Hash from r's content and r.Prev, both as they will be
// stored (JSON turns invalid UTF-8 into U+FFFD, so prev is taken back from
// the encoding: what verify reads is what was hashed).
func seal(r *Record) error {
	c, err := Canonical(*r)
	if err == nil {
		var stored struct{ Prev string }
		if err = json.Unmarshal(c, &stored); err == nil {
			r.Prev = stored.Prev
		}
	}
	if err != nil {
		return fmt.Errorf("encode audit record %d: %w", r.Seq, err)
	}
	r.Hash = ChainHash(r.Prev, c)
	return nil
}

// parseRecord decodes one stored record. Keys it does not know are kept
// out of the struct but not out of the hash: verify hashes the stored bytes,
// so a record written by a newer cl still verifies and an added key is
// still a modification.
func parseRecord(b []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return Record{}, err
	}
	return r, nil
}
