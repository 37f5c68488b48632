package schedule

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// at parses "2006-01-02 15:04:05 -0700" (the offset makes DST explicit).
func at(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse("2006-01-02 15:04:05 -0700", s)
	if err != nil {
		t.Fatalf("bad time %q: %v", s, err)
	}
	return v
}

func TestCronNext(t *testing.T) {
	tests := []struct {
		name, expr, tz, after string
		want                  []string
	}{
		// America/New_York springs forward on 2026-03-08 at 02:00 EST → 03:00 EDT.
		{"ny spring fixed in gap fires at gap end", "30 2 * * *", "America/New_York", "2026-03-07 12:00:00 -0500",
			[]string{"2026-03-08 03:00:00 -0400", "2026-03-09 02:30:00 -0400", "2026-03-10 02:30:00 -0400"}},
		{"ny spring fixed on the hour in gap", "0 2 * * *", "America/New_York", "2026-03-07 12:00:00 -0500",
			[]string{"2026-03-08 03:00:00 -0400", "2026-03-09 02:00:00 -0400"}},
		{"ny spring gap fire and 03:00 tick coincide once", "0 2,3 * * *", "America/New_York", "2026-03-07 12:00:00 -0500",
			[]string{"2026-03-08 03:00:00 -0400", "2026-03-09 02:00:00 -0400", "2026-03-09 03:00:00 -0400"}},
		{"ny spring fixed after the gap unaffected", "0 3 * * *", "America/New_York", "2026-03-07 12:00:00 -0500",
			[]string{"2026-03-08 03:00:00 -0400", "2026-03-09 03:00:00 -0400"}},
		{"ny spring hourly skips the missing hour", "0 * * * *", "America/New_York", "2026-03-08 00:30:00 -0500",
			[]string{"2026-03-08 01:00:00 -0500", "2026-03-08 03:00:00 -0400", "2026-03-08 04:00:00 -0400"}},
		{"ny spring every 30 min in real time", "*/30 * * * *", "America/New_York", "2026-03-08 01:00:00 -0500",
			[]string{"2026-03-08 01:30:00 -0500", "2026-03-08 03:00:00 -0400", "2026-03-08 03:30:00 -0400"}},
		{"ny spring seconds field crosses the gap", "* * * * * *", "America/New_York", "2026-03-08 01:59:58 -0500",
			[]string{"2026-03-08 01:59:59 -0500", "2026-03-08 03:00:00 -0400", "2026-03-08 03:00:01 -0400"}},
		{"ny spring daily tag", "@daily", "America/New_York", "2026-03-07 12:00:00 -0500",
			[]string{"2026-03-08 00:00:00 -0500", "2026-03-09 00:00:00 -0400"}},

		// America/New_York falls back on 2026-11-01 at 02:00 EDT → 01:00 EST.
		{"ny fall fixed in repeated hour fires once", "30 1 * * *", "America/New_York", "2026-10-31 12:00:00 -0400",
			[]string{"2026-11-01 01:30:00 -0400", "2026-11-02 01:30:00 -0500", "2026-11-03 01:30:00 -0500"}},
		{"ny fall fixed at 01:00 once", "0 1 * * *", "America/New_York", "2026-10-31 12:00:00 -0400",
			[]string{"2026-11-01 01:00:00 -0400", "2026-11-02 01:00:00 -0500"}},
		{"ny fall fixed at 02:00", "0 2 * * *", "America/New_York", "2026-11-01 00:00:00 -0400",
			[]string{"2026-11-01 02:00:00 -0500", "2026-11-02 02:00:00 -0500"}},
		{"ny fall hourly fires every real hour", "0 * * * *", "America/New_York", "2026-11-01 00:30:00 -0400",
			[]string{"2026-11-01 01:00:00 -0400", "2026-11-01 01:00:00 -0500", "2026-11-01 02:00:00 -0500"}},
		{"ny fall every 30 min in both passes", "*/30 * * * *", "America/New_York", "2026-11-01 00:45:00 -0400",
			[]string{"2026-11-01 01:00:00 -0400", "2026-11-01 01:30:00 -0400", "2026-11-01 01:00:00 -0500",
				"2026-11-01 01:30:00 -0500", "2026-11-01 02:00:00 -0500"}},
		{"ny fall hourly tag", "@hourly", "America/New_York", "2026-11-01 00:59:59 -0400",
			[]string{"2026-11-01 01:00:00 -0400", "2026-11-01 01:00:00 -0500", "2026-11-01 02:00:00 -0500"}},

		// Europe/Berlin: 2026-03-29 02:00 CET → 03:00 CEST; 2026-10-25 03:00 CEST → 02:00 CET.
		{"berlin spring fixed in gap", "30 2 * * *", "Europe/Berlin", "2026-03-28 12:00:00 +0100",
			[]string{"2026-03-29 03:00:00 +0200", "2026-03-30 02:30:00 +0200"}},
		{"berlin fall fixed once", "30 2 * * *", "Europe/Berlin", "2026-10-24 12:00:00 +0200",
			[]string{"2026-10-25 02:30:00 +0200", "2026-10-26 02:30:00 +0100"}},
		{"berlin fall wild minutes twice", "*/20 2 * * *", "Europe/Berlin", "2026-10-25 01:59:00 +0200",
			[]string{"2026-10-25 02:00:00 +0200", "2026-10-25 02:20:00 +0200", "2026-10-25 02:40:00 +0200",
				"2026-10-25 02:00:00 +0100", "2026-10-25 02:20:00 +0100", "2026-10-25 02:40:00 +0100", "2026-10-26 02:00:00 +0100"}},
		{"berlin spring wild minutes skip the hour", "*/20 2 * * *", "Europe/Berlin", "2026-03-28 12:00:00 +0100",
			[]string{"2026-03-30 02:00:00 +0200"}},

		// Leap days.
		{"leap day only", "0 0 29 2 *", "UTC", "2026-01-01 00:00:00 +0000",
			[]string{"2028-02-29 00:00:00 +0000", "2032-02-29 00:00:00 +0000"}},
		{"last day of february", "0 0 L 2 *", "UTC", "2027-03-01 00:00:00 +0000",
			[]string{"2028-02-29 00:00:00 +0000", "2029-02-28 00:00:00 +0000"}},
		{"leap day in new york", "0 12 29 2 *", "America/New_York", "2028-02-28 00:00:00 -0500",
			[]string{"2028-02-29 12:00:00 -0500", "2032-02-29 12:00:00 -0500"}},

		// L, W and #.
		{"L last day of month", "0 0 L * *", "UTC", "2028-01-15 00:00:00 +0000",
			[]string{"2028-01-31 00:00:00 +0000", "2028-02-29 00:00:00 +0000", "2028-03-31 00:00:00 +0000", "2028-04-30 00:00:00 +0000"}},
		{"W nearest weekday", "0 0 15W * *", "UTC", "2026-02-01 00:00:00 +0000",
			// 2026-02-15 and 03-15 are Sundays (→ Monday 16th); 04-15 is a Wednesday.
			[]string{"2026-02-16 00:00:00 +0000", "2026-03-16 00:00:00 +0000", "2026-04-15 00:00:00 +0000"}},
		{"W does not leave the month", "0 0 1W * *", "UTC", "2026-07-15 00:00:00 +0000",
			// 2026-08-01 is a Saturday: the nearest weekday in August is Monday the 3rd.
			[]string{"2026-08-03 00:00:00 +0000", "2026-09-01 00:00:00 +0000"}},
		{"# second friday", "0 0 * * 5#2", "UTC", "2026-01-01 00:00:00 +0000",
			[]string{"2026-01-09 00:00:00 +0000", "2026-02-13 00:00:00 +0000", "2026-03-13 00:00:00 +0000"}},
		{"L last friday", "0 0 * * 5L", "UTC", "2026-01-01 00:00:00 +0000",
			[]string{"2026-01-30 00:00:00 +0000", "2026-02-27 00:00:00 +0000", "2026-03-27 00:00:00 +0000"}},
		{"# in a DST zone", "0 9 * * 0#2", "America/New_York", "2026-03-01 00:00:00 -0500",
			// The second Sunday of March is the spring-forward day itself.
			[]string{"2026-03-08 09:00:00 -0400", "2026-04-12 09:00:00 -0400"}},

		// Fields and tags.
		{"seconds field", "*/1 * * * * *", "UTC", "2026-01-01 00:00:00 +0000",
			[]string{"2026-01-01 00:00:01 +0000", "2026-01-01 00:00:02 +0000"}},
		{"every 15 seconds", "*/15 * * * * *", "UTC", "2026-01-01 00:00:50 +0000",
			[]string{"2026-01-01 00:01:00 +0000", "2026-01-01 00:01:15 +0000"}},
		{"year field", "0 0 1 1 * 2030", "UTC", "2026-05-01 00:00:00 +0000",
			[]string{"2030-01-01 00:00:00 +0000"}},
		{"weekday names", "0 9 * * MON-FRI", "UTC", "2026-01-02 10:00:00 +0000", // a Friday
			[]string{"2026-01-05 09:00:00 +0000", "2026-01-06 09:00:00 +0000"}},
		{"half-hour zone", "0 0 * * *", "Asia/Kolkata", "2026-01-01 00:00:00 +0530",
			[]string{"2026-01-02 00:00:00 +0530"}},
		// Lord Howe moves by 30 minutes (02:00 → 02:30 in October).
		{"half-hour DST shift", "15 2 * * *", "Australia/Lord_Howe", "2026-10-03 12:00:00 +1030",
			[]string{"2026-10-04 02:30:00 +1100", "2026-10-05 02:15:00 +1100"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseCron(tt.expr, tt.tz)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.NextN(at(t, tt.after), len(tt.want))
			if err != nil {
				t.Fatalf("NextN: %v (got %v)", err, got)
			}
			for i, w := range tt.want {
				want := at(t, w)
				if !got[i].Equal(want) {
					t.Errorf("tick %d = %s, want %s", i, got[i].Format("2006-01-02 15:04:05 -0700 MST"), w)
				}
				if got[i].Location() != c.Location() {
					t.Errorf("tick %d is in %v, want the schedule's zone %v", i, got[i].Location(), c.Location())
				}
			}
		})
	}
}

func TestCronNextSubSecond(t *testing.T) {
	c, err := ParseCron("* * * * * *", "UTC")
	if err != nil {
		t.Fatal(err)
	}
	base := at(t, "2026-01-01 10:00:00 +0000")
	for _, after := range []time.Duration{0, 500 * time.Millisecond, 999 * time.Millisecond} {
		got, err := c.Next(base.Add(after))
		if err != nil {
			t.Fatal(err)
		}
		if want := base.Add(time.Second); !got.Equal(want) {
			t.Errorf("Next(%v) = %v, want %v", base.Add(after), got, want)
		}
	}
}

func TestCronNoTick(t *testing.T) {
	for _, expr := range []string{"0 0 1 1 * 2020", "0 0 30 2 *"} {
		c, err := ParseCron(expr, "UTC")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Next(at(t, "2026-01-01 00:00:00 +0000")); !errors.Is(err, ErrNoTick) {
			t.Errorf("%s: err = %v, want ErrNoTick", expr, err)
		}
	}
}

func TestCronParse(t *testing.T) {
	fixed := map[string]bool{
		"30 2 * * *": true, "@daily": true, "0 0 * * 0": true, "0 4 * * *": true, "0 9-17 * * *": true,
		"0 * * * *": false, "*/5 * * * *": false, "@hourly": false, "* * * * * *": false, "0 */2 * * *": false, "*/20 2 * * *": false,
	}
	for expr, want := range fixed {
		c, err := ParseCron(expr, "Europe/Berlin")
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		if c.Fixed() != want {
			t.Errorf("%s: fixed = %v, want %v", expr, c.Fixed(), want)
		}
	}
	for _, bad := range []string{"", "* * *", "61 * * * *", "0 0 * * 8", "nonsense"} {
		if _, err := ParseCron(bad, "UTC"); err == nil {
			t.Errorf("ParseCron(%q) accepted", bad)
		}
	}
	if _, err := ParseCron("0 0 * * *", "Mars/Olympus"); err == nil || !strings.Contains(err.Error(), "Mars/Olympus") {
		t.Errorf("unknown zone: err = %v", err)
	}
}
