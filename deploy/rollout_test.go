package deploy

import (
	"fmt"
	"testing"

	"github.com/celeroot/celeroot/config"
)

func TestBatchSize(t *testing.T) {
	for _, c := range []struct {
		in    string
		total int
		want  int
	}{
		{"1", 10, 1}, {"3", 10, 3}, {"30", 10, 10}, {"25%", 10, 3}, {"10%", 10, 1}, {"1%", 3, 1},
		{"100%", 7, 7}, {"50%", 5, 3}, {"2", 0, 1},
	} {
		got, err := BatchSize(c.in, c.total)
		if err != nil || got != c.want {
			t.Errorf("BatchSize(%q, %d) = %d, %v; want %d", c.in, c.total, got, err, c.want)
		}
	}
	for _, bad := range []string{"0", "-1", "0%", "101%", "x", "", "2.5"} {
		if _, err := BatchSize(bad, 10); err == nil {
			t.Errorf("BatchSize(%q) accepted", bad)
		}
	}
}

func hosts(n int) []*config.Host {
	var out []*config.Host
	for i := range n {
		out = append(out, &config.Host{Name: fmt.Sprintf("h%d", i+1)})
	}
	return out
}

func sizes(bs [][]*config.Host) []int {
	var out []int
	for _, b := range bs {
		out = append(out, len(b))
	}
	return out
}

func TestBatches(t *testing.T) {
	d := config.Deployment{Strategy: "rolling", Batch: "1", Canary: 1}
	two := 2
	for _, c := range []struct {
		o    Options
		n    int
		want string
	}{
		{Options{}, 3, "[1 1 1]"},
		{Options{Batch: "2"}, 5, "[2 2 1]"},
		{Options{Batch: "40%"}, 5, "[2 2 1]"},
		{Options{Strategy: "all"}, 5, "[5]"},
		{Options{Strategy: "canary", Canary: 2}, 5, "[2 3]"},
		{Options{Strategy: "canary", Canary: 9}, 5, "[5]"},
		{Options{MaxFail: &two}, 2, "[1 1]"},
	} {
		p, err := resolve(d, c.o, c.n)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(sizes(p.batches(hosts(c.n)))); got != c.want {
			t.Errorf("%+v over %d: %s, want %s", c.o, c.n, got, c.want)
		}
	}
	if _, err := resolve(d, Options{Strategy: "blue-green"}, 3); err == nil {
		t.Error("unknown strategy accepted")
	}
	neg := -1
	if _, err := resolve(d, Options{MaxFail: &neg}, 3); err == nil {
		t.Error("negative max-fail accepted")
	}
}
