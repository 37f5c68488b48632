package audit

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Filter selects records for cl audit logs and export.
type Filter struct {
	Since  time.Time // records at or after (zero: all)
	Actor  string    // substring of the user, machine, key, author, committer or via
	Action string    // an action ("host.update") or its group ("host")
}

// Match reports whether r passes f.
func (f Filter) Match(r Record) bool {
	if !f.Since.IsZero() && r.Time.Before(f.Since) {
		return false
	}
	if f.Action != "" && r.Action != f.Action && !strings.HasPrefix(r.Action, f.Action+".") {
		return false
	}
	if f.Actor != "" {
		a := r.Actor
		found := false
		for _, s := range []string{a.User, a.Machine, a.Key, a.Author, a.Committer, a.Via, a.User + "@" + a.Machine} {
			if s != "" && strings.Contains(s, f.Actor) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// Select returns the records that pass f.
func Select(recs []Record, f Filter) []Record {
	var out []Record
	for _, r := range recs {
		if f.Match(r) {
			out = append(out, r)
		}
	}
	return out
}

// ParseSince reads --since: a date (2024-01-01, in UTC), an RFC 3339 time,
// or a duration back from now (24h, 7d).
func ParseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--since %q: use a date (2024-01-01), an RFC 3339 time (2024-01-01T12:00:00Z) or a duration (24h, 7d)", s)
}

// WriteJSONL writes one record per line, as stored.
func WriteJSONL(w io.Writer, recs []Record) error {
	enc := json.NewEncoder(w)
	for _, r := range recs {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return nil
}

// CSVHeader is the first row of a CSV export.
var CSVHeader = []string{"seq", "time", "via", "user", "machine", "key", "author", "committer", "delivery",
	"action", "targets", "sha", "result", "prev", "hash"}

// WriteCSV writes a header and one row per record. Fields that a
// spreadsheet would run as a formula (starting with =, +, -, @, a tab or a
// carriage return) get a leading apostrophe.
func WriteCSV(w io.Writer, recs []Record) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	for _, r := range recs {
		a := r.Actor
		row := []string{strconv.FormatInt(r.Seq, 10), r.Time.Format(time.RFC3339Nano), a.Via, a.User, a.Machine, a.Key,
			a.Author, a.Committer, a.Delivery, r.Action, strings.Join(r.Targets, " "), r.SHA, string(r.Result), r.Prev, r.Hash}
		for i, f := range row {
			row[i] = csvSafe(f)
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// csvSafe defuses spreadsheet formula injection (OWASP's advice).
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
