package schedule

import (
	"testing"
	"time"
)

func TestDueTicksHorizon(t *testing.T) {
	c, err := ParseCron("* * * * * *", "UTC")
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	now := base.Add(1500 * time.Millisecond)
	res, err := dueTicks(c, base, now, now.Add(time.Second), duePolicy{time.Second, time.Hour, CatchupNone})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Fire) != 2 || !res.Fire[0].Equal(base.Add(time.Second)) || !res.Fire[1].Equal(base.Add(2*time.Second)) || !res.Next.Equal(base.Add(3*time.Second)) {
		t.Errorf("fire %v next %v: want the due tick and the one within the horizon", res.Fire, res.Next)
	}
}

func TestDueTicks(t *testing.T) {
	base := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	hm := func(h, m int) time.Time { return time.Date(2026, 6, 1, h, m, 0, 0, time.UTC) }
	sec := func(s int) time.Time { return base.Add(time.Duration(s) * time.Second) }
	tests := []struct {
		name        string
		expr        string
		cursor, now time.Time
		policy      duePolicy
		fire        []time.Time
		skipped     int
		next        time.Time
	}{
		{"nothing due yet", "*/5 * * * *", hm(12, 0), hm(12, 3),
			duePolicy{30 * time.Second, time.Hour, CatchupOnce}, nil, 0, hm(12, 5)},
		{"on time", "*/5 * * * *", hm(12, 0), hm(12, 5).Add(3 * time.Millisecond),
			duePolicy{30 * time.Second, time.Hour, CatchupOnce}, []time.Time{hm(12, 5)}, 0, hm(12, 10)},
		{"due exactly now", "*/5 * * * *", hm(12, 0), hm(12, 5),
			duePolicy{30 * time.Second, time.Hour, CatchupOnce}, []time.Time{hm(12, 5)}, 0, hm(12, 10)},
		{"failover gap: every late second fires once", "* * * * * *", sec(0), sec(4).Add(200 * time.Millisecond),
			duePolicy{5 * time.Second, time.Hour, CatchupNone}, []time.Time{sec(1), sec(2), sec(3), sec(4)}, 0, sec(5)},
		{"late window capped by starting deadline", "* * * * * *", sec(0), sec(4).Add(200 * time.Millisecond),
			duePolicy{5 * time.Second, 2 * time.Second, CatchupNone}, []time.Time{sec(3), sec(4)}, 1, sec(5)},
		{"catchup none skips missed ticks", "*/5 * * * *", hm(11, 0), hm(12, 2),
			duePolicy{30 * time.Second, time.Hour, CatchupNone}, nil, 12, hm(12, 5)},
		{"catchup once fires the latest missed tick", "*/5 * * * *", hm(11, 0), hm(12, 2),
			duePolicy{30 * time.Second, time.Hour, CatchupOnce}, []time.Time{hm(12, 0)}, 11, hm(12, 5)},
		{"catchup once outside the deadline", "0 3 * * *", hm(0, 0), hm(5, 0),
			duePolicy{30 * time.Second, time.Hour, CatchupOnce}, nil, 0, time.Date(2026, 6, 2, 3, 0, 0, 0, time.UTC)},
		{"catchup once inside the deadline", "0 3 * * *", hm(0, 0), hm(3, 59),
			duePolicy{30 * time.Second, time.Hour, CatchupOnce}, []time.Time{hm(3, 0)}, 0, time.Date(2026, 6, 2, 3, 0, 0, 0, time.UTC)},
		{"missed then late: the missed one first", "* * * * * *", sec(0), sec(100),
			duePolicy{2 * time.Second, time.Hour, CatchupOnce}, []time.Time{sec(97), sec(98), sec(99), sec(100)}, 96, sec(101)},
		{"a day without beat, seconds schedule, bounded walk", "* * * * * *", sec(0), sec(86400),
			duePolicy{2 * time.Second, 10 * time.Second, CatchupOnce}, []time.Time{sec(86397), sec(86398), sec(86399), sec(86400)}, 7, sec(86401)},
		{"never again", "0 0 1 1 * 2020", hm(0, 0), hm(12, 0),
			duePolicy{30 * time.Second, time.Hour, CatchupOnce}, nil, 0, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseCron(tt.expr, "UTC")
			if err != nil {
				t.Fatal(err)
			}
			res, err := dueTicks(c, tt.cursor, tt.now, tt.now, tt.policy)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Fire) != len(tt.fire) {
				t.Fatalf("fire = %v, want %v", res.Fire, tt.fire)
			}
			for i := range tt.fire {
				if !res.Fire[i].Equal(tt.fire[i]) {
					t.Errorf("fire[%d] = %v, want %v", i, res.Fire[i], tt.fire[i])
				}
			}
			if res.Skipped != tt.skipped {
				t.Errorf("skipped = %d, want %d", res.Skipped, tt.skipped)
			}
			if !res.Next.Equal(tt.next) {
				t.Errorf("next = %v, want %v", res.Next, tt.next)
			}
		})
	}
}
