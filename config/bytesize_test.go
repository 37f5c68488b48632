package config

import (
	"strings"
	"testing"
)

func TestParseByteSize(t *testing.T) {
	for _, c := range []struct {
		in   string
		want ByteSize
		str  string
	}{
		{"65536", 64 << 10, "64KiB"},
		{"4MiB", 4 << 20, "4MiB"},
		{"4 mb", 4 << 20, "4MiB"},
		{"512K", 512 << 10, "512KiB"},
		{"1GiB", 1 << 30, "1GiB"},
		{"1000B", 1000, "1000"},
	} {
		got, err := ParseByteSize(c.in)
		if err != nil || got != c.want || got.String() != c.str {
			t.Errorf("ParseByteSize(%q) = %d (%s), %v; want %d (%s)", c.in, got, got, err, c.want, c.str)
		}
	}
	for _, bad := range []string{"", "MiB", "-1", "4 TiB", "1.5MiB", "99999999999GiB"} {
		if _, err := ParseByteSize(bad); err == nil {
			t.Errorf("ParseByteSize(%q) accepted", bad)
		}
	}
}

func TestLogBudgetConfig(t *testing.T) {
	cfg, diags := load(t, base, nil)
	if diags.HasErrors() || cfg.Redis.LogBudget != DefaultLogBudget {
		t.Errorf("default log_budget = %s (%v), want %d bytes", cfg.Redis.LogBudget, diags, DefaultLogBudget)
	}
	cfg, diags = load(t, base+"redis:\n  log_budget: 1MiB\n", nil)
	if diags.HasErrors() || cfg.Redis.LogBudget != 1<<20 {
		t.Errorf("log_budget: 1MiB = %d bytes (%v)", cfg.Redis.LogBudget, diags)
	}
	for src, want := range map[string]string{
		"redis:\n  log_budget: 1KiB\n": "log_budget 1KiB is too small",
		"redis:\n  log_budget: lots\n": `"lots" is not a size`,
		"redis:\n  log_budget: [1]\n":  "expected a size",
	} {
		_, diags := load(t, base+src, nil)
		if !diags.HasErrors() || !strings.Contains(diags.Error(), want) {
			t.Errorf("%q: diagnostics %v, want one containing %q", src, diags, want)
		}
	}
}
