package main

import (
	"maps"
	"slices"
	"strings"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/deploy"
)

// Small formatting helpers shared by the commands' printers.

func hostNames(hosts []*config.Host) []string {
	out := make([]string, len(hosts))
	for i, h := range hosts {
		out[i] = h.Name
	}
	return out
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func orDash(n int) any {
	if n == 0 {
		return "-"
	}
	return n
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func formatTags(tags map[string]string) string {
	return joinSorted(tags, ",", func(k, v string) string { return k + "=" + v })
}

// joinSorted joins f(key, value) of m's entries in key order.
func joinSorted[V any](m map[string]V, sep string, f func(string, V) string) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, f(k, m[k]))
	}
	return strings.Join(parts, sep)
}

func orDashStr(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// short shortens a version for tables: "-" for none, "?" kept.
func short(v string) string {
	switch v {
	case "":
		return "-"
	case "?":
		return "?"
	}
	return deploy.ShortVersion(v)
}
