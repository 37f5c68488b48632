package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

func TestCanonicalAndHash(t *testing.T) {
	r := Record{Seq: 7, Time: time.Date(2024, 1, 2, 3, 4, 5, 6000, time.UTC), Actor: Actor{Via: "cli", User: "bob"},
		Action: "host.update", Targets: []string{"web1"}, Result: ResultOK, Prev: "ab", Hash: "ignored"}
	c, err := Canonical(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"action":"host.update","actor":{"user":"bob","via":"cli"},"prev":"ab","result":"ok","seq":7,"targets":["web1"],"time":"2024-01-02T03:04:05.000006Z"}`
	if string(c) != want {
		t.Fatalf("canonical =\n%s\nwant\n%s", c, want)
	}
	sum := sha256.Sum256([]byte("ab" + want))
	if got := ChainHash("ab", c); got != hex.EncodeToString(sum[:]) {
		t.Fatalf("hash %s", got)
	}
}

func TestCSVDefusesFormulas(t *testing.T) {
	recs := []Record{{Seq: 1, Time: time.Unix(0, 0).UTC(), Actor: Actor{Via: "cli", User: "=HYPERLINK(\"http://x\")", Machine: "+1", Author: "@SUM(A1)"},
		Action: "-2+3", Targets: []string{"=cmd|' /C calc'!A0", "web,1"}, Result: ResultOK}}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, recs); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || strings.Join(rows[0], ",") != strings.Join(CSVHeader, ",") {
		t.Fatalf("rows %q", rows)
	}
	for i, f := range rows[1] {
		if f != "" && strings.ContainsRune("=+-@\t\r", rune(f[0])) {
			t.Errorf("column %s = %q starts a formula", CSVHeader[i], f)
		}
	}
	if rows[1][3] != `'=HYPERLINK("http://x")` || rows[1][10] != `'=cmd|' /C calc'!A0 web,1` {
		t.Fatalf("row %q", rows[1])
	}
}

func TestFilterAndSince(t *testing.T) {
	now := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	recs := []Record{
		{Seq: 1, Time: now.Add(-48 * time.Hour), Actor: Actor{Via: "cli", User: "alice"}, Action: "host.update"},
		{Seq: 2, Time: now.Add(-time.Hour), Actor: Actor{Via: "agent", Author: "Bob <bob@x>"}, Action: "agent.apply"},
		{Seq: 3, Time: now, Actor: Actor{Via: "cli", User: "alice"}, Action: "host.deploy"},
	}
	since, err := ParseSince("24h", now)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		f    Filter
		want []int64
	}{
		{Filter{}, []int64{1, 2, 3}},
		{Filter{Since: since}, []int64{2, 3}},
		{Filter{Action: "host"}, []int64{1, 3}},
		{Filter{Action: "host.deploy"}, []int64{3}},
		{Filter{Action: "hos"}, nil},
		{Filter{Actor: "bob"}, []int64{2}},
		{Filter{Actor: "alice", Since: since}, []int64{3}},
	} {
		var got []int64
		for _, r := range Select(recs, c.f) {
			got = append(got, r.Seq)
		}
		if len(got) != len(c.want) || (len(got) > 0 && !equal(got, c.want)) {
			t.Errorf("%+v: got %v, want %v", c.f, got, c.want)
		}
	}
	if d, err := ParseSince("2024-01-01", now); err != nil || !d.Equal(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("2024-01-01 → %v %v", d, err)
	}
	if d, err := ParseSince("7d", now); err != nil || !d.Equal(now.Add(-7*24*time.Hour)) {
		t.Errorf("7d → %v %v", d, err)
	}
	if _, err := ParseSince("yesterday", now); err == nil || !strings.Contains(err.Error(), "2024-01-01") {
		t.Errorf("yesterday → %v", err)
	}
}

func equal(a, b []int64) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
